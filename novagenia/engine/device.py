"""Where a replica runs its pipelines. No `torch.cuda` call happens before a replica
asks (Ray sets CUDA_VISIBLE_DEVICES per replica, after import)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from novagenia.engine.fastpath import compile_wanted


@dataclass(frozen=True)
class DevicePlan:
    device: str
    dtype: torch.dtype
    compile: bool = False  # the compiled fast path (engine/fastpath.py)
    warmup_batches: tuple[int, ...] = (1,)

    @classmethod
    def for_replica(
        cls,
        gpus: float,
        dtype: str = "auto",
        cpu_threads: int = 1,
        compile: str = "off",
        warmup_batches: tuple[int, ...] = (1,),
    ) -> DevicePlan:
        """CUDA with fp16/bf16 when this replica holds a GPU share, CPU float32 otherwise.

        A fractional share is logical in Ray, so the replica caps its own allocator to it:
        two 0.5 replicas on one GPU then cannot starve each other.
        """
        if gpus > 0 and torch.cuda.is_available():
            if gpus < 1:
                torch.cuda.set_per_process_memory_fraction(gpus)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            if dtype == "auto":
                chosen = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            else:
                chosen = getattr(torch, dtype)
            return cls("cuda", chosen, compile_wanted(compile, "cuda"), warmup_batches)
        torch.set_num_threads(max(1, cpu_threads))
        return cls("cpu", torch.float32, compile_wanted(compile, "cpu"), warmup_batches)
