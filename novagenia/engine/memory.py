"""Memory strategies for big models on small devices, chosen per model (`model_memory` in
the config, `config.MemoryPlan`): int8 weights for the denoiser (torchao), CPU offload of
whole components or of the denoiser's blocks (diffusers), VAE slicing and tiling."""

from __future__ import annotations

import logging
from itertools import chain

import torch
from diffusers import DiffusionPipeline

from novagenia.config import MemoryPlan
from novagenia.engine.fastpath import denoiser_of

logger = logging.getLogger("novagenia.engine")


class MemoryPlanError(RuntimeError):
    """A memory plan this installation or model cannot carry out (the load fails with it)."""


def quantize_denoiser(pipeline: DiffusionPipeline) -> None:
    """int8 weight-only: each linear layer's weights stored as int8 with a scale per
    output row, dequantized on the fly; activations stay in the model's dtype."""
    try:
        from torchao.quantization import Int8WeightOnlyConfig, quantize_
    except ImportError as exc:
        raise MemoryPlanError(
            "quantize: int8 needs torchao: pip install 'novagenia[quantization]'"
        ) from exc
    denoiser = denoiser_of(pipeline)
    if denoiser is None:
        raise MemoryPlanError(f"{type(pipeline).__name__} has no denoiser to quantize")
    before = weight_bytes(denoiser)
    quantize_(denoiser, Int8WeightOnlyConfig())
    logger.info(
        "denoiser weights quantized to int8: %.1f → %.1f MiB",
        before / 2**20,
        weight_bytes(denoiser) / 2**20,
    )


def offloaded(memory: MemoryPlan, device: str) -> bool:
    """Whether the plan keeps the weights in host memory between uses (CUDA only: on
    the CPU they are in host memory anyway)."""
    return device == "cuda" and memory.offload != "none"


def place_pipeline(pipeline: DiffusionPipeline, device: str, memory: MemoryPlan) -> None:
    """Puts the pipeline's weights where the plan says and sets up its VAE decode."""
    if offloaded(memory, device) and memory.offload == "model":
        pipeline.enable_model_cpu_offload(device=device)
    elif offloaded(memory, device):
        pipeline.enable_group_offload(
            onload_device=torch.device(device),
            offload_type="block_level",
            num_blocks_per_group=1,
            use_stream=True,
        )
    else:
        if memory.offload != "none":
            logger.info(
                "offload: %s applies on CUDA only; on %s it has nothing to do",
                memory.offload,
                device,
            )
        pipeline.to(device)
    vae = getattr(pipeline, "vae", None)
    for wanted, method in (
        (memory.vae_tiling, "enable_tiling"),
        (memory.vae_slicing, "enable_slicing"),
    ):
        if not wanted:
            continue
        if vae is None or not hasattr(vae, method):
            raise MemoryPlanError(
                f"{method.removeprefix('enable_')} does not apply to "
                f"{type(vae).__name__ if vae is not None else 'a pipeline without a VAE'}"
            )
        getattr(vae, method)()


def weight_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers as stored (see `tensor_bytes`)."""
    return sum(tensor_bytes(t) for t in chain(module.parameters(), module.buffers()))


def tensor_bytes(tensor: torch.Tensor) -> int:
    """What a tensor really stores: for a quantized one its int8 data and scales, not
    the dtype it computes in."""
    if hasattr(tensor, "__tensor_flatten__"):
        names = tensor.__tensor_flatten__()[0]
        return sum(tensor_bytes(getattr(tensor, name)) for name in names)
    return tensor.numel() * tensor.element_size()
