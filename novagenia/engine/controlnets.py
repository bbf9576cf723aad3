"""The ControlNet models a replica holds: loaded on first use beside the pipelines
(safetensors only, from the registry's folder), kept for the next jobs, the least
recently used dropped past `capacity`."""

from __future__ import annotations

import threading
from collections import OrderedDict

import torch
from diffusers import ControlNetModel

from novagenia.models import ModelRegistry


class ControlNetCache:
    def __init__(self, registry: ModelRegistry, capacity: int = 4) -> None:
        self.registry = registry
        self.capacity = capacity
        self._loaded: OrderedDict[str, ControlNetModel] = OrderedDict()
        self._lock = threading.Lock()  # loads run in worker threads

    def get(
        self, model_ids: list[str], device: torch.device, dtype: torch.dtype
    ) -> list[ControlNetModel]:
        """The models, in order, on `device` in `dtype` (the pipeline's)."""
        with self._lock:
            return [self._get(model_id, device, dtype) for model_id in model_ids]

    def _get(self, model_id: str, device: torch.device, dtype: torch.dtype) -> ControlNetModel:
        model = self._loaded.get(model_id)
        if model is None or model.dtype != dtype or model.device != device:
            path = self.registry.controlnet(model_id).path
            model = ControlNetModel.from_pretrained(
                str(path), dtype=dtype, use_safetensors=True, local_files_only=True
            ).to(device)
            model.eval()
        self._loaded[model_id] = model
        self._loaded.move_to_end(model_id)
        while len(self._loaded) > self.capacity:
            self._loaded.popitem(last=False)
        return model
