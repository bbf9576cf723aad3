"""What a LoRA file says about itself, from its safetensors header alone: its format
(kohya or diffusers/peft naming), rank and alpha, the base model it was trained for, its
training resolution and suggested trigger words (kohya `ss_*` and modelspec metadata).
A header that names no LoRA weights is refused.
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from novagenia.safetensors_header import (
    InvalidSafetensors,
    PickledWeights,
    SafetensorsHeader,
    TensorEntry,
    read_header,
)

SUGGESTED_TRIGGER_WORDS = 8
PICKLE_REFUSED = (
    "pickle checkpoints (.ckpt, .pt, .pth, .bin) can run code when loaded and are not "
    "accepted; convert the LoRA to .safetensors"
)

KOHYA_PREFIXES = ("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_", "lora_transformer_")
KOHYA_PARTS = (".lora_down.", ".lora_up.")
DIFFUSERS_PARTS = (".lora_A.", ".lora_B.", ".lora.down.", ".lora.up.", ".lora_linear_layer.")
DOWN_PARTS = (".lora_down.weight", ".lora_A.weight", ".lora.down.weight")
UP_PARTS = (".lora_up.weight", ".lora_B.weight", ".lora.up.weight")

LoraFormat = Literal["diffusers", "kohya"]


class InvalidLora(ValueError):
    """Not a safetensors LoRA (the message says what is wrong, for the uploader)."""


@dataclass(frozen=True)
class HeaderFacts:
    """What a LoRA file says about itself (from its header only)."""

    format: LoraFormat
    rank: int | None
    alpha: float | None
    base_model: str | None
    base_model_name: str | None
    resolution: list[int] | None
    trigger_words: list[str]
    description: str | None


def read_lora_header(path: Path) -> SafetensorsHeader:
    """`read_header`, with what it refuses told to the uploader as `InvalidLora`."""
    try:
        return read_header(path)
    except PickledWeights:
        raise InvalidLora(PICKLE_REFUSED) from None
    except InvalidSafetensors as exc:
        raise InvalidLora(str(exc)) from None


def lora_format(keys: list[str]) -> LoraFormat | None:
    """kohya (`lora_unet_…`, `lora_te_…` with `lora_down`/`lora_up`) or diffusers/peft
    (`….lora_A.weight`, `….lora.down.weight`); None when no key looks like a LoRA."""
    if any(k.startswith(KOHYA_PREFIXES) and any(p in k for p in KOHYA_PARTS) for k in keys):
        return "kohya"
    if any(p in k for k in keys for p in DIFFUSERS_PARTS):
        return "diffusers"
    return None


def describe(path: Path, header: SafetensorsHeader) -> HeaderFacts:
    """The facts a LoRA's header gives: format, rank/alpha, base model, trigger words."""
    fmt = lora_format(list(header.tensors))
    if fmt is None:
        raise InvalidLora(
            "no LoRA weights in this file (no lora_A/lora_B or lora_down/lora_up keys)"
        )
    meta = header.metadata
    downs = [e for k, e in header.tensors.items() if k.endswith(DOWN_PARTS) and e.shape]
    rank = _int(meta.get("ss_network_dim")) or (max(e.shape[0] for e in downs) if downs else None)
    alpha = _float(meta.get("ss_network_alpha"))
    if alpha is None:
        alpha = _diffusers_alpha(meta) if fmt == "diffusers" else _kohya_alpha(path, header)
    family, name = _base_model(meta, header, downs)
    return HeaderFacts(
        format=fmt,
        rank=rank,
        alpha=alpha,
        base_model=family,
        base_model_name=name,
        resolution=_resolution(meta.get("ss_resolution") or meta.get("modelspec.resolution")),
        trigger_words=_top_tags(meta.get("ss_tag_frequency")),
        description=meta.get("modelspec.description") or meta.get("ss_training_comment") or None,
    )


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _diffusers_alpha(meta: dict[str, str]) -> float | None:
    """diffusers ≥ 0.34 saves the peft config as `lora_adapter_metadata`."""
    try:
        config = json.loads(meta.get("lora_adapter_metadata", "{}"))
    except json.JSONDecodeError:
        return None
    values = [
        v for k, v in config.items() if k.endswith("lora_alpha") and isinstance(v, int | float)
    ]
    return float(values[0]) if values else None


def _kohya_alpha(path: Path, header: SafetensorsHeader) -> float | None:
    """kohya stores alpha as a scalar tensor per module: read the first one (a few bytes)."""
    entry = next((e for k, e in header.tensors.items() if k.endswith(".alpha")), None)
    formats = {"F32": "<f", "F16": "<e", "F64": "<d"}
    if entry is None or entry.shape not in ((), (1,)) or entry.dtype not in (*formats, "BF16"):
        return None
    with path.open("rb") as file:
        file.seek(header.data_start + entry.begin)
        raw = file.read(entry.end - entry.begin)
    if entry.dtype == "BF16":
        return round(struct.unpack("<f", b"\0\0" + raw)[0], 4)
    return round(struct.unpack(formats[entry.dtype], raw)[0], 4)


# kohya's `ss_base_model_version` / modelspec architecture prefixes → family
_FAMILIES = (
    ("sdxl", "sdxl"),
    ("stable-diffusion-xl", "sdxl"),
    ("sd_v1", "sd1"),
    ("stable-diffusion-v1", "sd1"),
    ("sd_v2", "sd2"),
    ("stable-diffusion-v2", "sd2"),
    ("sd3", "sd3"),
    ("stable-diffusion-3", "sd3"),
    ("flux", "flux"),
)
# cross-attention width of the UNet (the in-features of attn2.to_k) → family
_CROSS_ATTENTION_FAMILIES = {768: "sd1", 1024: "sd2", 2048: "sdxl"}


def _base_model(
    meta: dict[str, str], header: SafetensorsHeader, downs: list[TensorEntry]
) -> tuple[str | None, str | None]:
    declared = (
        meta.get("ss_base_model_version") or meta.get("modelspec.architecture") or ""
    ).lower()
    family = next((f for prefix, f in _FAMILIES if declared.startswith(prefix)), None)
    if family is None:
        widths = {
            e.shape[1]
            for k, e in header.tensors.items()
            if "attn2" in k and "to_k" in k and k.endswith(DOWN_PARTS) and len(e.shape) == 2
        }
        if len(widths) == 1:
            family = _CROSS_ATTENTION_FAMILIES.get(widths.pop())
    name = meta.get("ss_sd_model_name") or meta.get("modelspec.base_model") or None
    return family, name


def _resolution(value: str | None) -> list[int] | None:
    """kohya writes `(512, 512)` or `512,512`; modelspec writes `512x512`."""
    if not value:
        return None
    parts = [p for p in value.strip("()[] ").replace("x", ",").split(",") if p.strip()]
    numbers = [_int(p.strip()) for p in parts]
    if not numbers or any(n is None or n <= 0 for n in numbers):
        return None
    return [numbers[0], numbers[-1]]  # type: ignore[list-item]


def _top_tags(value: str | None) -> list[str]:
    """kohya's `ss_tag_frequency` ({dataset: {tag: count}}): the most frequent tags."""
    try:
        datasets = json.loads(value) if value else {}
    except json.JSONDecodeError:
        return []
    counts: Counter[str] = Counter()
    if isinstance(datasets, dict):
        for tags in datasets.values():
            if isinstance(tags, dict):
                counts.update(
                    {t.strip(): n for t, n in tags.items() if isinstance(n, int) and t.strip()}
                )
    return [tag for tag, _ in counts.most_common(SUGGESTED_TRIGGER_WORDS)]
