"""LoRAs: the library of `.safetensors` LoRA files (`library`), what their headers say
(`describe`), a job's LoRA set from its request and prompt tags (`prompt`), and which
installed models a LoRA fits (`fit`, imported on its own: it needs the model registry).

The names below are the package's public face, kept importable from `novagenia.loras`.
"""

from novagenia.loras.describe import PICKLE_REFUSED, InvalidLora, read_lora_header
from novagenia.loras.library import (
    SUFFIX,
    Lora,
    LoraCard,
    LoraExists,
    LoraLibrary,
    LoraNotFound,
    LoraUpdate,
)
from novagenia.loras.prompt import LoraSetError, resolve_lora_set

__all__ = [
    "PICKLE_REFUSED",
    "SUFFIX",
    "InvalidLora",
    "Lora",
    "LoraCard",
    "LoraExists",
    "LoraLibrary",
    "LoraNotFound",
    "LoraSetError",
    "LoraUpdate",
    "read_lora_header",
    "resolve_lora_set",
]
