"""Which installed models a LoRA fits, told from safetensors headers alone: every layer
the LoRA names (in kohya or diffusers naming) must be a layer of the model with the same
input and output sizes. The API says so at upload and refuses a job whose LoRA cannot
apply to its model, instead of the job failing on the replica.

Some namings are not the model's own and only diffusers' converters map them: kohya's
SDXL UNet layers use the original (LDM) block names, and kohya's, BFL's and XLabs' Flux
LoRAs name the original Flux blocks. Those layers tell the LoRA's family instead, and
only models of that family fit (their sizes are checked when the adapter loads)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from novagenia.loras.describe import DOWN_PARTS, UP_PARTS
from novagenia.models import ModelInfo
from novagenia.safetensors_header import InvalidSafetensors, read_header

logger = logging.getLogger("novagenia.loras")

Layers = dict[str, tuple[int, int]]  # flat layer name → (input size, output size)

COMPONENTS = ("unet", "transformer", "text_encoder", "text_encoder_2")
KOHYA_COMPONENTS = {
    "lora_unet_": "unet_",
    "lora_transformer_": "transformer_",
    "lora_te_": "text_encoder_",
    "lora_te1_": "text_encoder_",
    "lora_te2_": "text_encoder_2_",
}
# Layer names of another naming than the model's, and the families that use them.
FOREIGN_NAMINGS: dict[tuple[str, ...], frozenset[str]] = {
    # kohya's sd-scripts name UNet layers the original (LDM) way for SDXL only (its SD
    # 1.x/2.x LoRAs use diffusers' names, compared layer by layer)
    ("lora_unet_input_blocks", "lora_unet_middle_block", "lora_unet_output_blocks"): frozenset(
        {"sdxl"}
    ),
    # kohya (sd-scripts), BFL/ComfyUI and XLabs names of Flux's double and single blocks
    (
        "lora_unet_double_blocks",
        "lora_unet_single_blocks",
        "diffusion_model.double_blocks",
        "diffusion_model.single_blocks",
        "double_blocks.",
        "single_blocks.",
    ): frozenset({"flux"}),
}


@dataclass(frozen=True)
class LoraShape:
    """What a LoRA file adapts: comparable layers (model naming) and, when some layers
    use a foreign naming, the families that naming belongs to."""

    layers: Layers
    families: frozenset[str] | None


def flat(name: str) -> str:
    return name.replace(".", "_")


def lora_shape(path: Path) -> LoraShape | None:
    """What a LoRA file adapts; None when it can be neither compared nor placed."""
    stat = path.stat()
    return _lora_shape(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=512)
def _lora_shape(path: str, mtime_ns: int, size: int) -> LoraShape | None:
    try:
        tensors = read_header(Path(path)).tensors
    except (InvalidSafetensors, OSError):
        return None
    inputs: dict[str, int] = {}
    outputs: dict[str, int] = {}
    families: frozenset[str] | None = None
    for key, entry in tensors.items():
        foreign = next((f for names, f in FOREIGN_NAMINGS.items() if key.startswith(names)), None)
        if foreign is not None:
            families = foreign if families is None else families & foreign
            continue
        if len(entry.shape) < 2:
            continue
        for suffixes, sizes, dim in ((DOWN_PARTS, inputs, 1), (UP_PARTS, outputs, 0)):
            suffix = next((s for s in suffixes if key.endswith(s)), None)
            if suffix is not None:
                sizes[_layer_name(key.removesuffix(suffix))] = entry.shape[dim]
    layers = {name: (inputs[name], outputs[name]) for name in inputs if name in outputs}
    return LoraShape(layers, families) if layers or families is not None else None


def _layer_name(module: str) -> str:
    for kohya, component in KOHYA_COMPONENTS.items():
        if module.startswith(kohya):
            return component + module.removeprefix(kohya)
    return flat(module)


def model_layers(model: ModelInfo) -> Layers | None:
    """The adaptable layers of a diffusers model directory; None for what cannot be read
    (single-file checkpoints, a model not built yet)."""
    index = model.path / "model_index.json"
    if model.single_file or not index.is_file():
        return None
    return _model_layers(str(model.path), index.stat().st_mtime_ns)


@lru_cache(maxsize=32)
def _model_layers(path: str, mtime_ns: int) -> Layers | None:
    layers: Layers = {}
    for component in COMPONENTS:
        for weights in sorted((Path(path) / component).glob("*.safetensors")):
            try:
                tensors = read_header(weights).tensors
            except (InvalidSafetensors, OSError):
                logger.warning("could not read %s", weights)
                return None
            for key, entry in tensors.items():
                if key.endswith(".weight") and len(entry.shape) >= 2:
                    name = flat(f"{component}.{key.removesuffix('.weight')}")
                    layers[name] = (entry.shape[1], entry.shape[0])
    return layers or None


def fits(lora_path: Path, model: ModelInfo) -> bool | None:
    """True or False when both can be read, None when it cannot be told."""
    lora = lora_shape(lora_path)
    if lora is None:
        return None
    capabilities = model.capabilities
    if lora.families is not None and capabilities and capabilities.family not in lora.families:
        return False
    layers = model_layers(model)
    if layers is None:
        return None
    return all(layers.get(name) == sizes for name, sizes in lora.layers.items())


def fitting_models(lora_path: Path, models: list[ModelInfo]) -> list[str]:
    """Ids of the installed models this LoRA is known to fit (of families that take LoRAs)."""
    return [
        model.id
        for model in models
        if model.capabilities and model.capabilities.loras and fits(lora_path, model)
    ]
