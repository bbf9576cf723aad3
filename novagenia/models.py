"""Installed models: what can be served, where its files are, and its native size.

A model id is a Hub-style `org/name` (or a bare `name`). Models live in the models dir
in the diffusers format (`<models_dir>/<org>/<name>/model_index.json`); the embedded
models ship in the package (see `novagenia.embedded`). All load through the same path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from novagenia.embedded import EMBEDDED_DIR, EMBEDDED_NAMESPACE, TINY_RANDOM, TINY_SHAPES
from novagenia.paths import UnsafeName, safe_join


class ModelNotFound(LookupError):
    """No installed model has this id."""


@dataclass(frozen=True)
class ModelInfo:
    id: str
    path: Path
    source: str  # "embedded" | "local"
    pipeline_class: str | None
    native_size: int

    @property
    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())


class ModelRegistry:
    def __init__(self, models_dir: Path, default_model: str | None = None) -> None:
        self.models_dir = models_dir
        self._default = default_model

    @property
    def default_model(self) -> str:
        if self._default:
            return self._default
        return TINY_SHAPES if self._packaged_dir(TINY_SHAPES) else TINY_RANDOM

    def list(self) -> list[ModelInfo]:
        found: dict[str, ModelInfo] = {}
        if self.models_dir.is_dir():
            for index in sorted(self.models_dir.glob("*/model_index.json")) + sorted(
                self.models_dir.glob("*/*/model_index.json")
            ):
                model_dir = index.parent
                model_id = model_dir.relative_to(self.models_dir).as_posix()
                if not any(
                    part.startswith(".") for part in model_dir.relative_to(self.models_dir).parts
                ):
                    found[model_id] = _describe(model_id, model_dir, "local")
        for index in sorted(EMBEDDED_DIR.glob("*/model_index.json")):
            model_id = f"{EMBEDDED_NAMESPACE}/{index.parent.name}"
            found[model_id] = _describe(model_id, index.parent, "embedded")
        if TINY_RANDOM not in found:
            # Buildable on demand, so always offered.
            found[TINY_RANDOM] = ModelInfo(
                TINY_RANDOM,
                self._local_dir(TINY_RANDOM),
                "embedded",
                "StableDiffusionPipeline",
                128,
            )
        return sorted(found.values(), key=lambda m: m.id)

    def get(self, model_id: str) -> ModelInfo:
        """Describes an installed model; raises ModelNotFound (or UnsafeName)."""
        packaged = self._packaged_dir(model_id)
        if packaged is not None:
            return _describe(model_id, packaged, "embedded")
        local = self._local_dir(model_id)
        if (local / "model_index.json").is_file():
            return _describe(model_id, local, "local")
        if model_id == TINY_RANDOM:
            return ModelInfo(TINY_RANDOM, local, "embedded", "StableDiffusionPipeline", 128)
        raise ModelNotFound(model_id)

    def materialize(self, model_id: str) -> Path:
        """The directory to load from, building the random embedded model if needed."""
        info = self.get(model_id)
        if model_id == TINY_RANDOM and not (info.path / "model_index.json").is_file():
            from novagenia.embedded.random_tiny import save_tiny_random

            save_tiny_random(info.path)
        return info.path

    def _local_dir(self, model_id: str) -> Path:
        return safe_join(self.models_dir, *_split(model_id))

    @staticmethod
    def _packaged_dir(model_id: str) -> Path | None:
        parts = _split(model_id)
        if len(parts) != 2 or parts[0] != EMBEDDED_NAMESPACE:
            return None
        candidate = safe_join(EMBEDDED_DIR, parts[1])
        return candidate if (candidate / "model_index.json").is_file() else None


def _split(model_id: str) -> list[str]:
    parts = model_id.split("/")
    if not 1 <= len(parts) <= 2:
        raise UnsafeName(f"invalid model id {model_id!r}")
    return parts


def _describe(model_id: str, path: Path, source: str) -> ModelInfo:
    index = json.loads((path / "model_index.json").read_text())
    return ModelInfo(model_id, path, source, index.get("_class_name"), _native_size(path))


def _native_size(path: Path) -> int:
    """UNet sample size × VAE scale factor (512 for SD 1.5, 1024 for SDXL)."""
    try:
        unet = json.loads((path / "unet" / "config.json").read_text())
        vae = json.loads((path / "vae" / "config.json").read_text())
        sample = unet["sample_size"]
        sample = sample[0] if isinstance(sample, list) else sample
        return int(sample) * 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, KeyError, ValueError, TypeError):
        return 512
