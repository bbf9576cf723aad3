"""Planning a download before any weight moves: the repo must be a text-to-image
diffusers pipeline (or a ControlNet for one) with safetensors weights for every
component, and fit on the disk.
The plan names the exact commit and the files to fetch, with their sizes."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from huggingface_hub import constants, hf_hub_download

from novagenia.embedded import EMBEDDED_NAMESPACE
from novagenia.hub.errors import HubConflict, HubDiskFull, HubRefused, HubUnavailable, hub_errors
from novagenia.hub.protocol import DownloadRequest
from novagenia.hub.settings import HubSettings
from novagenia.models import CONTROLNET_CLASS
from novagenia.paths import safe_join
from novagenia.safetensors_header import PICKLE_SUFFIXES

PARTIAL_DIR = ".partial"

# `_class_name`s of model_index.json served here: pipelines that generate from a prompt
# alone, and the dedicated inpainting ones of the UNet families.
TEXT_TO_IMAGE_PIPELINES = frozenset(
    {
        "StableDiffusionPipeline",
        "StableDiffusionInpaintPipeline",
        "StableDiffusionXLPipeline",
        "StableDiffusionXLInpaintPipeline",
        "StableDiffusion3Pipeline",
        "LatentConsistencyModelPipeline",
        "PixArtAlphaPipeline",
        "PixArtSigmaPipeline",
        "SanaPipeline",
        "FluxPipeline",
        "AuraFlowPipeline",
        "Kandinsky3Pipeline",
        "HunyuanDiTPipeline",
        "LuminaPipeline",
        "Lumina2Pipeline",
        "CogView3PlusPipeline",
        "CogView4Pipeline",
        "QwenImagePipeline",
        "ChromaPipeline",
        "ZImagePipeline",
    }
)
COMPONENT_FILE_SUFFIXES = (".json", ".txt", ".model", ".safetensors")


@dataclass(frozen=True)
class DownloadPlan:
    """What to fetch: the exact commit and the files the pipeline needs, with sizes."""

    repo_id: str
    commit: str
    files: dict[str, int]

    @property
    def bytes_total(self) -> int:
        return sum(self.files.values())


def model_dir(models_dir: Path, repo_id: str) -> Path:
    return safe_join(models_dir, *repo_id.split("/"))


def partial_dir(models_dir: Path, repo_id: str) -> Path:
    return safe_join(models_dir / PARTIAL_DIR, *repo_id.split("/"))


def plan_download(
    settings: HubSettings, request: DownloadRequest, models_dir: Path
) -> DownloadPlan:
    """Checks, before any weight moves, that the repo is a text-to-image diffusers
    pipeline with safetensors weights for every component and that the disk can hold
    it. Blocking: run it in a thread."""
    repo = request.repo_id
    if repo.split("/")[0] == EMBEDDED_NAMESPACE:
        raise HubRefused(f"{EMBEDDED_NAMESPACE}/ is reserved for the embedded models")
    installed = model_dir(models_dir, repo)
    if (installed / "model_index.json").is_file() or (installed / "config.json").is_file():
        remove = "controlnet/models" if (installed / "config.json").is_file() else "models"
        raise HubConflict(f"{repo} is already installed; DELETE /api/v1/{remove}/{repo} first")
    if constants.is_offline_mode():
        raise HubUnavailable("the Hub is off (HF_HUB_OFFLINE=1): no downloads")
    staging = partial_dir(models_dir, repo)
    with hub_errors(repo, settings.has_token):
        info = settings.api().model_info(repo, revision=request.revision, files_metadata=True)
        sizes = {s.rfilename: s.size or 0 for s in info.siblings or []}
        # a pipeline has model_index.json; a ControlNet is one model: its config.json
        described_by = next((n for n in ("model_index.json", "config.json") if n in sizes), None)
        if described_by is None:
            raise HubRefused(f"{repo} is not a diffusers pipeline (no model_index.json)")
        staging.mkdir(parents=True, exist_ok=True)
        config_path = hf_hub_download(
            repo,
            described_by,
            revision=info.sha,
            local_dir=staging,
            endpoint=settings.endpoint,
            token=settings.token,
        )
    try:
        config = json.loads(Path(config_path).read_text())
        class_name = config.get("_class_name")
        if described_by == "config.json" and class_name == CONTROLNET_CLASS:
            files = select_model_files(sizes, request.variant)
        elif described_by == "config.json":
            raise HubRefused(f"{repo} is a {class_name}, neither a pipeline nor a ControlNet")
        elif class_name not in TEXT_TO_IMAGE_PIPELINES:
            raise HubRefused(f"{repo} is a {class_name}, not a text-to-image pipeline served here")
        else:
            files = select_files(sizes, config, request.variant)
    except (HubRefused, ValueError):
        shutil.rmtree(staging, ignore_errors=True)  # nothing of a refused repo stays
        raise
    plan = DownloadPlan(repo, str(info.sha), files)
    _check_disk(plan, staging, models_dir)
    return plan


def select_files(
    sizes: dict[str, int], index: dict[str, Any], variant: str | None
) -> dict[str, int]:
    """model_index.json, each component's configs and tokenizer files, and its
    safetensors weights (the `variant` ones where present); never pickled weights.
    Refuses when a component has weights but none in safetensors."""
    components = {
        name
        for name, value in index.items()
        if not name.startswith("_") and isinstance(value, list) and value[0] is not None
    }
    chosen = {"model_index.json": sizes["model_index.json"]}
    by_component: dict[str, list[str]] = {}
    for name in sizes:
        parts = PurePosixPath(name).parts
        if len(parts) == 2 and parts[0] in components:
            by_component.setdefault(parts[0], []).append(name)
    pickled_only = []
    for component, names in sorted(by_component.items()):
        weights = [n for n in names if n.endswith(".safetensors")]
        if not weights and any(n.endswith(PICKLE_SUFFIXES) for n in names):
            pickled_only.append(component)
            continue
        wanted = [n for n in weights if _is_variant(n, variant)]
        weights = set(wanted or [n for n in weights if _is_variant(n, None)])
        for name in names:
            if name in weights or (
                name.endswith(COMPONENT_FILE_SUFFIXES)
                and not name.endswith(".safetensors")
                and _index_matches(name, weights)
            ):
                chosen[name] = sizes[name]
    if pickled_only:
        raise HubRefused(
            f"only .bin weights for {', '.join(pickled_only)}: refused "
            "(pickled weights can run code; only safetensors are installed)"
        )
    return chosen


def select_model_files(sizes: dict[str, int], variant: str | None) -> dict[str, int]:
    """A single model's repo (a ControlNet): config.json and its safetensors weights at
    the top level (the `variant` ones where present); never pickled weights."""
    top = [name for name in sizes if "/" not in name]
    weights = [name for name in top if name.endswith(".safetensors")]
    if not weights:
        raise HubRefused(
            "only .bin weights: refused (pickled weights can run code; only safetensors "
            "are installed)"
            if any(name.endswith(PICKLE_SUFFIXES) for name in top)
            else "no safetensors weights in the repo"
        )
    chosen = set(
        [n for n in weights if _is_variant(n, variant)]
        or [n for n in weights if _is_variant(n, None)]
    )
    chosen |= {
        name for name in top if ".safetensors.index" in name and _index_matches(name, chosen)
    }
    return {"config.json": sizes["config.json"], **{name: sizes[name] for name in sorted(chosen)}}


def _is_variant(filename: str, variant: str | None) -> bool:
    """`unet/diffusion_pytorch_model.fp16.safetensors` (or a `.fp16-00001-of-00002` shard)
    is the fp16 variant; a name without a variant tag is the default one."""
    stem = PurePosixPath(filename).name.split(".safetensors")[0]
    tags = stem.split(".")[1:]
    if variant is None:
        return not tags
    return bool(tags) and tags[-1].split("-")[0] == variant


def _index_matches(filename: str, weights: set[str]) -> bool:
    """A shard index (`*.safetensors.index[.fp16].json`) only with its own shards."""
    if ".safetensors.index" not in filename:
        return True
    variant = filename.rsplit(".safetensors.index", 1)[1].removesuffix(".json").lstrip(".")
    return any(_is_variant(weight, variant or None) for weight in weights)


def _check_disk(plan: DownloadPlan, staging: Path, models_dir: Path) -> None:
    present = sum(complete_size(staging, name, size) for name, size in plan.files.items())
    needed = plan.bytes_total - present
    free = shutil.disk_usage(models_dir).free
    if needed > free:
        raise HubDiskFull(
            f"{plan.repo_id} needs {needed / 1e9:.2f} GB more, the models disk has {free / 1e9:.2f} GB free"
        )


def complete_size(staging: Path, name: str, size: int) -> int:
    path = staging / name
    return size if path.is_file() and path.stat().st_size == size else 0
