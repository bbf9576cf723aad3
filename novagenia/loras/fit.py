"""Which installed models a LoRA fits, told from safetensors headers alone: every layer
the LoRA names (in kohya or diffusers naming) must be a layer of the model with the same
input and output sizes. The API says so at upload and refuses a job whose LoRA cannot
apply to its model, instead of the job failing on the replica."""

from __future__ import annotations

import logging
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
# kohya names SDXL UNet layers the original (LDM) way, which only diffusers' converter maps
LDM_UNET_PREFIXES = ("lora_unet_input_blocks", "lora_unet_middle_block", "lora_unet_output_blocks")


def flat(name: str) -> str:
    return name.replace(".", "_")


def lora_layers(path: Path) -> Layers | None:
    """The layers a LoRA file adapts; None when its naming cannot be compared."""
    stat = path.stat()
    return _lora_layers(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=512)
def _lora_layers(path: str, mtime_ns: int, size: int) -> Layers | None:
    try:
        tensors = read_header(Path(path)).tensors
    except (InvalidSafetensors, OSError):
        return None
    inputs: dict[str, int] = {}
    outputs: dict[str, int] = {}
    for key, entry in tensors.items():
        if key.startswith(LDM_UNET_PREFIXES) or len(entry.shape) < 2:
            continue
        for suffixes, sizes, dim in ((DOWN_PARTS, inputs, 1), (UP_PARTS, outputs, 0)):
            suffix = next((s for s in suffixes if key.endswith(s)), None)
            if suffix is not None:
                sizes[_layer_name(key.removesuffix(suffix))] = entry.shape[dim]
    layers = {name: (inputs[name], outputs[name]) for name in inputs if name in outputs}
    return layers or None


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
    lora, layers = lora_layers(lora_path), model_layers(model)
    if lora is None or layers is None:
        return None
    return all(layers.get(name) == sizes for name, sizes in lora.items())


def fitting_models(lora_path: Path, models: list[ModelInfo]) -> list[str]:
    """Ids of the installed models this LoRA is known to fit (of families that take LoRAs)."""
    return [
        model.id
        for model in models
        if model.capabilities and model.capabilities.loras and fits(lora_path, model)
    ]
