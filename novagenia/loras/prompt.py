"""A job's LoRA set: `<lora:name:weight>` tags taken out of the prompt and merged with
the LoRAs the request lists, each checked against the library."""

from __future__ import annotations

import re

from pydantic import ValidationError

from novagenia.jobs.schemas import LORA_TAG, LoraRef
from novagenia.loras.library import LoraLibrary, LoraNotFound
from novagenia.paths import UnsafeName


class LoraSetError(ValueError):
    """A job's LoRA set is not valid; `field` is the request field to blame."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def resolve_lora_set(
    prompt: str, explicit: list[LoraRef], library: LoraLibrary, max_loras: int = 8
) -> tuple[str, list[LoraRef]]:
    """Moves `<lora:name:weight>` tags out of the prompt into the LoRA list (an explicit
    entry wins over a tag of the same name; a weight left out is the LoRA's default) and
    checks that every LoRA is in the library. Returns the cleaned prompt and the set."""
    names = [lora.name for lora in explicit]
    if len(set(names)) != len(names):
        raise LoraSetError("loras", "a LoRA is listed twice")
    chosen = {lora.name: lora for lora in explicit}
    for lora in explicit:
        if "weight" not in lora.model_fields_set:
            chosen[lora.name] = LoraRef(name=lora.name, weight=_default_weight(library, lora.name))
    for match in LORA_TAG.finditer(prompt):
        name, weight = match.group(1).strip(), (match.group(2) or "").split(":")[0].strip()
        if name in chosen:
            continue
        try:
            chosen[name] = LoraRef(
                name=name, weight=float(weight) if weight else _default_weight(library, name)
            )
        except (ValueError, ValidationError):
            raise LoraSetError("prompt", f"invalid LoRA tag {match.group(0)!r}") from None
    for name in chosen:
        if not library.exists(name):
            raise LoraSetError("loras", f"unknown LoRA {name!r}; see GET /api/v1/loras")
    if len(chosen) > max_loras:
        raise LoraSetError("loras", f"at most {max_loras} LoRAs per job")
    cleaned = re.sub(r"[ \t]{2,}", " ", LORA_TAG.sub("", prompt)).strip(" \t,")
    if not cleaned.strip():
        raise LoraSetError("prompt", "the prompt is empty once its LoRA tags are removed")
    return cleaned, list(chosen.values())


def _default_weight(library: LoraLibrary, name: str) -> float:
    try:
        return library.get(name).default_weight
    except (LoraNotFound, UnsafeName):
        return 1.0  # an unknown name is reported by the existence check
