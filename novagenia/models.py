"""Installed models: what can be served, where its files are, and what it can do (its
family's capabilities, engine/families.py).

A model id is a Hub-style `org/name` (or a bare `name`). Models live in the models dir
in the diffusers format (`<models_dir>/<org>/<name>/model_index.json`), or as a
single-file checkpoint (`<models_dir>/[<org>/]<name>.safetensors`, the way SD 1.x/2.x and
SDXL checkpoints are shared; id = path without the suffix); the embedded models ship in
the package (see `novagenia.embedded`).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from novagenia.embedded import EMBEDDED_DIR, EMBEDDED_NAMESPACE, TINY_RANDOM, TINY_SHAPES
from novagenia.engine.families import Capabilities, describe_capabilities, family_of
from novagenia.engine.samplers import samplers_for
from novagenia.paths import UnsafeName, safe_join
from novagenia.safetensors_header import InvalidSafetensors, read_header


class ModelNotFound(LookupError):
    """No installed model has this id."""


class ModelNotDeletable(PermissionError):
    """The embedded models ship with the package (HTTP 403)."""


SINGLE_FILE_SUFFIX = ".safetensors"
CONTROLNET_CLASS = "ControlNetModel"  # the UNet families' ControlNet (SD 1.x/2.x, SDXL)


@dataclass(frozen=True)
class ModelInfo:
    id: str
    path: Path
    source: str  # "embedded" | "local"
    pipeline_class: str | None
    capabilities: Capabilities | None  # None: a pipeline of a family this server cannot run

    @property
    def native_size(self) -> int:
        return self.capabilities.native_size if self.capabilities else 512

    @property
    def samplers(self) -> tuple[str, ...]:
        return self.capabilities.samplers if self.capabilities else ()

    @property
    def denoiser_config(self) -> dict | None:
        """Its UNet's or transformer's config (None for a single-file checkpoint)."""
        if self.single_file:
            return None
        return _read_json(self.path / "unet" / "config.json") or _read_json(
            self.path / "transformer" / "config.json"
        )

    @property
    def single_file(self) -> bool:
        return self.path.is_file()

    @property
    def size_bytes(self) -> int:
        if self.single_file:
            return self.path.stat().st_size
        return folder_size(self.path)


@dataclass(frozen=True)
class ControlNetInfo:
    """An installed ControlNet: a diffusers `ControlNetModel` folder (config.json and its
    safetensors weights), for the models of one family."""

    id: str
    path: Path
    source: str  # "embedded" | "local"
    family: str  # the family of the models it guides: "sd" or "sdxl"
    cross_attention_dim: int  # must equal the model's UNet's

    @property
    def size_bytes(self) -> int:
        return folder_size(self.path)


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


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
        found = {
            model_id: _describe(model_id, folder, source)
            for model_id, folder, source in self._folders("model_index.json")
        }
        if self.models_dir.is_dir():
            for checkpoint in sorted(self.models_dir.glob("*" + SINGLE_FILE_SUFFIX)) + sorted(
                self.models_dir.glob("*/*" + SINGLE_FILE_SUFFIX)
            ):
                model_id = checkpoint.relative_to(self.models_dir).as_posix()
                model_id = model_id.removesuffix(SINGLE_FILE_SUFFIX)
                if not model_id.startswith(".") and model_id not in found:
                    try:
                        found[model_id] = self.get(model_id)
                    except (ModelNotFound, UnsafeName):
                        continue
        if TINY_RANDOM not in found:
            found[TINY_RANDOM] = self.get(TINY_RANDOM)
        return sorted(found.values(), key=lambda m: m.id)

    def _folders(self, marker: str) -> Iterator[tuple[str, Path, str]]:
        """(id, folder, source) of every folder holding the file `marker`: the installed
        ones (one or two levels deep, none hidden, none in the embedded namespace),
        then the embedded ones."""
        if self.models_dir.is_dir():
            for path in sorted(self.models_dir.glob(f"*/{marker}")) + sorted(
                self.models_dir.glob(f"*/*/{marker}")
            ):
                parts = path.parent.relative_to(self.models_dir).parts
                if parts[0] != EMBEDDED_NAMESPACE and not any(p.startswith(".") for p in parts):
                    yield "/".join(parts), path.parent, "local"
        for path in sorted(EMBEDDED_DIR.glob(f"*/{marker}")):
            yield f"{EMBEDDED_NAMESPACE}/{path.parent.name}", path.parent, "embedded"

    def get(self, model_id: str) -> ModelInfo:
        """Describes an installed model; raises ModelNotFound (or UnsafeName)."""
        packaged = self._packaged_dir(model_id)
        if packaged is not None:
            return _describe(model_id, packaged, "embedded")
        local = self._local_dir(model_id)
        if model_id == TINY_RANDOM:
            # Buildable on demand (into the models dir), so always offered.
            return ModelInfo(
                TINY_RANDOM,
                local,
                "embedded",
                "StableDiffusionPipeline",
                capabilities_of("StableDiffusionPipeline", None, {"sample_size": 16}, None),
            )
        if (local / "model_index.json").is_file():
            return _describe(model_id, local, "local")
        checkpoint = local.with_name(local.name + SINGLE_FILE_SUFFIX)
        if checkpoint.is_file():
            return _describe_checkpoint(model_id, checkpoint)
        raise ModelNotFound(model_id)

    def controlnets(self) -> list[ControlNetInfo]:
        found = (
            _describe_controlnet(model_id, folder, source)
            for model_id, folder, source in self._folders("config.json")
        )
        return sorted((c for c in found if c is not None), key=lambda c: c.id)

    def controlnet(self, model_id: str) -> ControlNetInfo:
        """Describes an installed ControlNet; raises ModelNotFound (or UnsafeName)."""
        parts = _split(model_id)
        if len(parts) == 2 and parts[0] == EMBEDDED_NAMESPACE:
            path, source = safe_join(EMBEDDED_DIR, parts[1]), "embedded"
        else:
            path, source = self._local_dir(model_id), "local"
        info = _describe_controlnet(model_id, path, source)
        if info is None:
            raise ModelNotFound(model_id)
        return info

    def materialize(self, model_id: str) -> Path:
        """The directory to load from, building the random embedded model if needed."""
        info = self.get(model_id)
        if model_id == TINY_RANDOM and not (info.path / "model_index.json").is_file():
            from novagenia.embedded.random_tiny import save_tiny_random

            save_tiny_random(info.path)
        return info.path

    def delete(self, model_id: str) -> ModelInfo:
        """Removes an installed model. It is renamed out of sight first, so nothing ever
        sees it half-deleted. Replicas that hold it keep it until they evict it."""
        info = self.get(model_id)
        self._remove(info.id, info.path, info.source)
        return info

    def delete_controlnet(self, model_id: str) -> ControlNetInfo:
        """Removes an installed ControlNet, the same way (replicas drop theirs from
        their cache as it fills)."""
        info = self.controlnet(model_id)
        self._remove(info.id, info.path, info.source)
        return info

    def _remove(self, model_id: str, path: Path, source: str) -> None:
        if source != "local":
            raise ModelNotDeletable(f"{model_id} is embedded in NovaGenIA and cannot be deleted")
        trash = self.models_dir / f".trash-{uuid.uuid4().hex}"
        os.replace(path, trash)
        if trash.is_dir():
            shutil.rmtree(trash, ignore_errors=True)
        else:
            trash.unlink()

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
    pipeline_class = index.get("_class_name")
    info = ModelInfo(model_id, path, source, pipeline_class, None)
    capabilities = capabilities_of(
        pipeline_class,
        _read_json(path / "scheduler" / "scheduler_config.json"),
        info.denoiser_config,
        _read_json(path / "vae" / "config.json"),
    )
    return replace(info, capabilities=capabilities)


def _describe_controlnet(model_id: str, path: Path, source: str) -> ControlNetInfo | None:
    """None unless `path` holds a ControlNetModel with safetensors weights."""
    config = _read_json(path / "config.json")
    if not config or config.get("_class_name") != CONTROLNET_CLASS:
        return None
    if not any(path.glob("*.safetensors")):
        return None
    family = "sdxl" if config.get("addition_embed_type") == "text_time" else "sd"
    return ControlNetInfo(model_id, path, source, family, int(config["cross_attention_dim"]))


def capabilities_of(
    pipeline_class: str | None,
    scheduler: dict | None,
    denoiser: dict | None,
    vae: dict | None,
) -> Capabilities | None:
    family = family_of(pipeline_class)
    if family is None:
        return None
    samplers = samplers_for(scheduler, denoiser, family.custom_sigmas)
    return describe_capabilities(family, samplers, denoiser, vae)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# Single-file checkpoint families, told apart by their state-dict keys (the way
# diffusers' `infer_diffusers_model_type` does): pipeline class and native size (in
# latent cells, the VAE being the usual 8×).
SDXL_KEY = "conditioner.embedders.1"
SD2_KEY = "cond_stage_model.model."
SD_KEY = "model.diffusion_model."


def checkpoint_keys(path: Path) -> list[str]:
    """The tensor names of a safetensors file, read from its header only."""
    return list(read_header(path).tensors)


def checkpoint_family(keys: list[str]) -> tuple[str | None, int]:
    if any(key.startswith(SDXL_KEY) for key in keys):
        return "StableDiffusionXLPipeline", 1024
    if any(key.startswith(SD2_KEY) for key in keys):
        return "StableDiffusionPipeline", 768
    if any(key.startswith(SD_KEY) for key in keys):
        return "StableDiffusionPipeline", 512
    return None, 512


def _describe_checkpoint(model_id: str, path: Path) -> ModelInfo:
    try:
        pipeline_class, native = checkpoint_family(checkpoint_keys(path))
    except (OSError, InvalidSafetensors):
        pipeline_class, native = None, 512
    capabilities = capabilities_of(pipeline_class, None, {"sample_size": native // 8}, None)
    return ModelInfo(model_id, path, "local", pipeline_class, capabilities)
