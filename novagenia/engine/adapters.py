"""Applying a job's LoRA set to a loaded pipeline, through diffusers' peft backend.

Each LoRA file is loaded once per pipeline as a named peft adapter (the name encodes the
file's version, so a replaced file is loaded afresh) and kept, up to a bound, for the
jobs that follow; a job then only activates its adapters with its weights. Weights are
never fused, so the base weights stay untouched and switching LoRA sets never reloads
the model. A replica runs one batch at a time, so activation and generation of one
batch never interleave with another's.
"""

from __future__ import annotations

import hashlib
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
from diffusers import DiffusionPipeline
from peft.tuners.tuners_utils import BaseTunerLayer

from novagenia.engine.fastpath import unfuse_qkv
from novagenia.jobs.schemas import LoraRef
from novagenia.loras.library import LoraLibrary, LoraNotFound
from novagenia.safetensors_header import read_header

logger = logging.getLogger("novagenia.engine")

DENOISERS = {"unet", "transformer"}
TEXT_ENCODER_KEYS = ("text_encoder.", "text_encoder_2.", "lora_te_", "lora_te1_", "lora_te2_")


class LoraError(Exception):
    """A job's LoRA set cannot be applied; the message is meant for the user."""


class LoraAdapters:
    """Per replica: which LoRAs each of its pipelines holds, least recently used first."""

    def __init__(self, library: LoraLibrary, max_per_pipeline: int) -> None:
        self.library = library
        self.max_per_pipeline = max_per_pipeline
        # pipeline → adapter name → LoRA name; weak, so an evicted model takes its entry along
        self._held: weakref.WeakKeyDictionary[DiffusionPipeline, OrderedDict[str, str]] = (
            weakref.WeakKeyDictionary()
        )

    def activate(
        self, pipeline: DiffusionPipeline, model_id: str, loras: Sequence[LoraRef]
    ) -> None:
        """Makes `loras` (with their weights) the pipeline's active set, loading what it
        does not hold yet; an empty set (or only zero weights) restores the base model.
        Raises LoraError, leaving the pipeline usable."""
        started = time.perf_counter()
        wanted = [lora for lora in loras if lora.weight != 0.0]
        held = self._held.setdefault(pipeline, OrderedDict())
        if not wanted:
            if held:
                pipeline.disable_lora()
            return
        unfuse_qkv(pipeline)
        adapters = [self._ensure_loaded(pipeline, model_id, held, lora.name) for lora in wanted]
        pipeline.enable_lora()
        pipeline.set_adapters(adapters, adapter_weights=[lora.weight for lora in wanted])
        self._evict(pipeline, held, keep=set(adapters))
        seconds = time.perf_counter() - started
        logger.info(
            "LoRA set %s on %s in %.3f s",
            ", ".join(f"{lora.name}:{lora.weight:g}" for lora in wanted),
            model_id,
            seconds,
        )

    def _ensure_loaded(
        self,
        pipeline: DiffusionPipeline,
        model_id: str,
        held: OrderedDict[str, str],
        name: str,
    ) -> str:
        try:
            path, version = self.library.weights_file(name)
        except LoraNotFound:
            raise LoraError(f"LoRA {name!r} is not in the library") from None
        adapter = "lora_" + hashlib.sha1(f"{name}\0{version}".encode()).hexdigest()[:16]
        if adapter in held:
            held.move_to_end(adapter)
            return adapter
        stale = [a for a, n in held.items() if n == name]  # an older version of the file
        if stale:
            self._unload(pipeline, held, stale)
        started = time.perf_counter()
        try:
            pipeline.load_lora_weights(str(path), adapter_name=adapter)
        except Exception as exc:
            _purge(pipeline, adapter)
            raise LoraError(
                f"LoRA {name!r} does not fit model {model_id!r}: {_reason(exc)}"
            ) from exc
        placed = {part for part, names in pipeline.get_list_adapters().items() if adapter in names}
        if not placed or (_targets_denoiser(path) and not placed & DENOISERS):
            # diffusers only warns when a part of the file matches nothing in the model
            _purge(pipeline, adapter)
            raise LoraError(
                f"LoRA {name!r} does not fit model {model_id!r}: its "
                f"{'UNet/transformer ' if placed else ''}layers match nothing in the model"
            )
        held[adapter] = name
        logger.info(
            "loaded LoRA %s into %s in %.3f s", name, model_id, time.perf_counter() - started
        )
        return adapter

    def _evict(
        self, pipeline: DiffusionPipeline, held: OrderedDict[str, str], keep: set[str]
    ) -> None:
        """Drops least recently used adapters beyond the bound (never the active ones)."""
        surplus = len(held) - self.max_per_pipeline
        if surplus > 0:
            self._unload(pipeline, held, [a for a in held if a not in keep][:surplus])

    @staticmethod
    def _unload(
        pipeline: DiffusionPipeline, held: OrderedDict[str, str], adapters: list[str]
    ) -> None:
        for adapter in adapters:
            _purge(pipeline, adapter)
            held.pop(adapter, None)
        if pipeline._execution_device.type == "cuda":
            torch.cuda.empty_cache()


def _purge(pipeline: DiffusionPipeline, adapter: str) -> None:
    """Removes every trace of an adapter from every component, including a half-loaded
    one (diffusers cleans up a failed load only in the modules where it was active)."""
    for component in pipeline.components.values():
        if not isinstance(component, torch.nn.Module):
            continue
        for module in component.modules():
            if isinstance(module, BaseTunerLayer) and any(
                adapter in getattr(module, layer, {}) for layer in module.adapter_layer_names
            ):
                module.delete_adapter(adapter)
        config = getattr(component, "peft_config", None)
        if isinstance(config, dict):
            config.pop(adapter, None)


def _targets_denoiser(path: Path) -> bool:
    """Whether the file holds weights for more than the text encoders (header only)."""
    return any(not key.startswith(TEXT_ENCODER_KEYS) for key in read_header(path).tensors)


def _reason(exc: Exception) -> str:
    """A short cause: torch's size-mismatch report lists every layer, with internal names."""
    text = str(exc)
    if "size mismatch" in text:
        return "its layer shapes differ (trained for another architecture)"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:200] or type(exc).__name__
