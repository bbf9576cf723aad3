"""Loading pipelines by model directory: safetensors only, never remote code."""

from __future__ import annotations

import gc
import logging
import time
from pathlib import Path

import torch
from diffusers import DiffusionPipeline

from novagenia.engine.device import DevicePlan

logger = logging.getLogger("novagenia.engine")


class LoadedPipeline:
    """A pipeline held by one replica. Serve's multiplexer evicts least recently used
    models without asking whether a job still runs on one, so eviction only marks it and
    the weights are freed when the last user lets go."""

    def __init__(self, model_id: str, pipeline: DiffusionPipeline, load_seconds: float) -> None:
        self.model_id = model_id
        self.pipeline = pipeline
        self.load_seconds = load_seconds
        self.schedulers: dict[str, object] = {}  # sampler name → scheduler for this model
        self._users = 0
        self._evicted = False

    def acquire(self) -> DiffusionPipeline:
        self._users += 1
        return self.pipeline

    def release(self) -> None:
        self._users -= 1
        if self._evicted and self._users == 0:
            self._free()

    def __del__(self) -> None:
        """Called by Serve on LRU eviction."""
        self._evicted = True
        if self._users == 0:
            self._free()

    def _free(self) -> None:
        if getattr(self, "pipeline", None) is None:
            return
        device = self.pipeline.device
        self.pipeline = None
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        logger.info("unloaded %s", self.model_id)


def load_pipeline(model_id: str, path: Path, plan: DevicePlan) -> LoadedPipeline:
    started = time.perf_counter()
    pipeline = DiffusionPipeline.from_pretrained(
        str(path), torch_dtype=plan.dtype, use_safetensors=True, local_files_only=True
    )
    pipeline.set_progress_bar_config(disable=True)
    pipeline.to(plan.device)
    if plan.device == "cuda" and hasattr(pipeline, "unet"):
        pipeline.unet.to(memory_format=torch.channels_last)
    if hasattr(pipeline, "vae") and hasattr(pipeline.vae, "enable_tiling"):
        # Tiled decode only kicks in above the tile size: cheap insurance for big images.
        pipeline.vae.enable_tiling()
    seconds = time.perf_counter() - started
    logger.info("loaded %s on %s (%s) in %.2f s", model_id, plan.device, plan.dtype, seconds)
    return LoadedPipeline(model_id, pipeline, seconds)
