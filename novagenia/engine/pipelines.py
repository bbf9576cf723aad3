"""Loading pipelines by model directory or single-file checkpoint: safetensors only,
never remote code."""

from __future__ import annotations

import gc
import logging
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from diffusers import DiffusionPipeline, StableDiffusionPipeline, StableDiffusionXLPipeline
from diffusers.loaders.single_file_utils import fetch_diffusers_config
from huggingface_hub import constants

from novagenia.config import MemoryPlan
from novagenia.engine.batch_memory import measure_bytes_per_pixel
from novagenia.engine.device import DevicePlan
from novagenia.engine.families import is_inpainting_denoiser
from novagenia.engine.fastpath import compile_pipeline, denoiser_of, fuse_qkv
from novagenia.engine.memory import offloaded, place_pipeline, quantize_denoiser
from novagenia.engine.previews import LatentProjection, fit_latent_projection
from novagenia.models import checkpoint_family, checkpoint_keys
from novagenia.safetensors_header import read_header

logger = logging.getLogger("novagenia.engine")


class LoadedPipeline:
    """A pipeline held by one replica. Serve's multiplexer evicts least recently used
    models without asking whether a job still runs on one, so eviction only marks it and
    the weights are freed when the last user lets go."""

    def __init__(
        self,
        model_id: str,
        pipeline: DiffusionPipeline,
        previews: LatentProjection | None = None,
        bytes_per_pixel: float | None = None,
    ) -> None:
        self.model_id = model_id
        self.pipeline = pipeline
        self.previews = previews  # None: this model gets no live previews
        # Peak memory per image pixel on CUDA (engine/batch_memory.py); None elsewhere
        self.bytes_per_pixel = bytes_per_pixel
        # The model's own scheduler settings, kept because samplers replace the scheduler
        self.scheduler_config = dict(pipeline.scheduler.config)
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
        device = self.pipeline._execution_device  # where it ran, offloaded or not
        self.pipeline = None
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        logger.info("unloaded %s", self.model_id)


def load_pipeline(
    model_id: str,
    path: Path,
    plan: DevicePlan,
    models_dir: Path | None = None,
    memory: MemoryPlan | None = None,
) -> LoadedPipeline:
    """The model's pipeline on the replica's device, held the way its memory plan says
    (engine/memory.py), fast path compiled where the plan allows."""
    memory = memory or MemoryPlan()
    started = time.perf_counter()
    if path.is_file():
        pipeline = load_single_file(path, plan, models_dir)
    else:
        # A Model Hub download with `variant: fp16` holds `*.fp16.safetensors` files
        # (where the repo had them); diffusers falls back per component.
        variant = "fp16" if any(path.glob("*/*.fp16*.safetensors")) else None
        pipeline = DiffusionPipeline.from_pretrained(
            str(path),
            dtype=plan.dtype,
            use_safetensors=True,
            local_files_only=True,
            variant=variant,
        )
    pipeline.set_progress_bar_config(disable=True)
    # Offloaded weights move during a call: nothing may capture them in a graph.
    # The compile warm-up and the memory probe draw from a prompt alone, which a
    # dedicated inpainting model cannot.
    inpainting = is_inpainting_denoiser(getattr(denoiser_of(pipeline), "config", None))
    compile = (
        plan.compile
        and denoiser_of(pipeline) is not None
        and not offloaded(memory, plan.device)
        and not inpainting
    )
    if compile:
        fuse_qkv(denoiser_of(pipeline))  # before quantizing: it concatenates weights
    if memory.quantize == "int8":
        quantize_denoiser(pipeline)
    place_pipeline(pipeline, plan.device, memory)
    previews = fit_latent_projection(pipeline)
    # Measured before compiling: a replayed CUDA graph's memory is not the batch's peak.
    bytes_per_pixel = None if inpainting else measure_bytes_per_pixel(pipeline)
    if compile:
        compile_pipeline(pipeline, plan.warmup_batches)
    elif plan.device == "cuda" and hasattr(pipeline, "unet"):
        pipeline.unet.to(memory_format=torch.channels_last)
    seconds = time.perf_counter() - started
    logger.info(
        "loaded %s on %s (%s, %s) in %.2f s", model_id, plan.device, plan.dtype, memory, seconds
    )
    return LoadedPipeline(model_id, pipeline, previews, bytes_per_pixel)


def _checkpoint_shapes(path: Path) -> dict[str, SimpleNamespace]:
    """A safetensors file seen as {name: object with `.shape`}, read from its header:
    enough for diffusers to tell the checkpoint's family without loading a tensor."""
    return {
        name: SimpleNamespace(shape=entry.shape)
        for name, entry in read_header(path).tensors.items()
    }


def single_file_config(path: Path, models_dir: Path | None) -> tuple[str, bool]:
    """Where the component configs of a single-file checkpoint come from: a local
    diffusers copy of its family's base repo (e.g. `<models_dir>/stable-diffusion-v1-5/
    stable-diffusion-v1-5`, fully offline), else that repo id, whose configs (a few KB,
    no weights) diffusers takes from the Hugging Face cache or, when online, the Hub.
    Returns (config, local_files_only)."""
    repo = fetch_diffusers_config(_checkpoint_shapes(path))["pretrained_model_name_or_path"]
    if models_dir is not None and (models_dir / repo / "model_index.json").is_file():
        return str(models_dir / repo), True
    return repo, constants.is_offline_mode()


def load_single_file(path: Path, plan: DevicePlan, models_dir: Path | None) -> DiffusionPipeline:
    """An SD 1.x/2.x or SDXL checkpoint in the original (LDM) layout."""
    pipeline_class, _ = checkpoint_family(checkpoint_keys(path))
    if pipeline_class is None:
        raise ValueError(f"{path.name} is not a Stable Diffusion or SDXL checkpoint")
    loader = (
        StableDiffusionXLPipeline
        if pipeline_class == "StableDiffusionXLPipeline"
        else StableDiffusionPipeline
    )
    config, local_only = single_file_config(path, models_dir)
    return loader.from_single_file(
        str(path), config=config, dtype=plan.dtype, local_files_only=local_only
    )
