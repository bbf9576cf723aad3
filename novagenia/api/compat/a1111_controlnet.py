"""The sd-webui-controlnet extension's API: its units in `alwayson_scripts.controlnet`
as a job's ControlNet units, and its `/controlnet/*` catalogue routes.

Its preprocessor ("module") names map to ours where ours compute the same thing without
a model; a module that needs one (depth, openpose, …) is a clear 422, never dropped."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter

from novagenia.api.compat.a1111_protocol import checkpoint_candidates, data_url_of
from novagenia.api.compat.access import CompatReader
from novagenia.api.compat.generation import describe_ignored
from novagenia.api.deps import Context
from novagenia.models import ModelRegistry
from novagenia.submission import InvalidInput

logger = logging.getLogger("novagenia.compat.a1111")
router = APIRouter(prefix="/controlnet", tags=["compat-a1111"])

# extension module name -> (our preprocessor, what its threshold_a / threshold_b set)
MODULES: dict[str, tuple[str, str | None, str | None]] = {
    "none": ("none", None, None),
    "canny": ("canny", "low_threshold", "high_threshold"),
    "lineart_standard": ("lineart", None, None),
    "scribble_xdog": ("scribble", "threshold", None),
    "tile_resample": ("tile", "downsample", None),
}
# The extension's "balanced" control mode is the only one diffusers' pipelines have.
BALANCED = (0, "Balanced")


def controlnet_units(body: Any, registry: ModelRegistry) -> list[dict[str, Any]]:
    """The enabled units of `alwayson_scripts.controlnet.args` as job units."""
    scripts = (getattr(body, "model_extra", None) or {}).get("alwayson_scripts") or {}
    script = scripts.get("controlnet") or scripts.get("ControlNet")
    if not script:
        return []
    args = script.get("args") if isinstance(script, dict) else None
    if not isinstance(args, list):
        raise InvalidInput("alwayson_scripts", "controlnet.args must be a list of units")
    return [
        _unit(index, arg, registry)
        for index, arg in enumerate(args)
        if isinstance(arg, dict) and arg.get("enabled", True)
    ]


def _unit(index: int, arg: dict[str, Any], registry: ModelRegistry) -> dict[str, Any]:
    where = f"alwayson_scripts.controlnet.args[{index}]"
    module = str(arg.get("module") or "none")
    if module not in MODULES:
        raise InvalidInput(
            where,
            f"preprocessor {module!r} is not available here (it needs a model); "
            f"available: {', '.join(MODULES)}",
        )
    name, option_a, option_b = MODULES[module]
    preprocessor: dict[str, Any] = {"name": name}
    for option, key in ((option_a, "threshold_a"), (option_b, "threshold_b")):
        value = arg.get(key)
        if option and value is not None and value != -1:  # -1: the module's default
            preprocessor[option] = value
    if arg.get("control_mode", 0) not in BALANCED:
        raise InvalidInput(where, "only the balanced control_mode (0) is supported")
    if arg.get("hr_option", "Both") != "Both":
        raise InvalidInput(where, "a unit guides both passes of the hires fix: hr_option Both")
    image = arg.get("image") or arg.get("input_image")
    if isinstance(image, dict):  # the extension's {"image": …, "mask": …} form
        image = image.get("image")
    unit: dict[str, Any] = {
        "model": match_controlnet(registry, str(arg.get("model") or ""), where),
        "preprocessor": preprocessor,
        "weight": arg.get("weight", 1.0),
        "guidance_start": arg.get("guidance_start", 0.0),
        "guidance_end": arg.get("guidance_end", 1.0),
    }
    if image:
        if not isinstance(image, str):
            raise InvalidInput(where, "image must be one base64 picture")
        unit["image"] = data_url_of(image)
    ignored = {
        key: arg[key]
        for key in ("resize_mode", "processor_res", "pixel_perfect", "guess_mode", "mask")
        if arg.get(key) not in (None, False, "", -1, 512, "Crop and Resize", "Resize and Fill", 0)
    }
    if ignored:
        logger.info("controlnet unit %d: not used here: %s", index, describe_ignored(ignored))
    return unit


def match_controlnet(registry: ModelRegistry, title: str, where: str) -> str:
    """An installed ControlNet for the extension's model title (`name [hash]`): its id,
    or the last part of an id, compared without case."""
    by_name: dict[str, str] = {}
    for controlnet in registry.controlnets():
        by_name.setdefault(controlnet.id.casefold(), controlnet.id)
        by_name.setdefault(controlnet.id.rsplit("/", 1)[-1].casefold(), controlnet.id)
    for candidate in checkpoint_candidates(title):
        if candidate.casefold() in by_name:
            return by_name[candidate.casefold()]
    raise InvalidInput(where, f"unknown ControlNet model {title!r}; see GET /controlnet/model_list")


@router.get("/version")
async def version() -> dict[str, int]:
    return {"version": 2}


@router.get("/model_list")
async def model_list(context: Context, _: CompatReader) -> dict[str, list[str]]:
    return {"model_list": [controlnet.id for controlnet in context.registry.controlnets()]}


@router.get("/module_list")
async def module_list() -> dict[str, Any]:
    return {"module_list": list(MODULES)}
