"""`/sdapi/v1/...` catalogue routes of the AUTOMATIC1111 API: what is installed and
offered (models, LoRAs, samplers, schedulers) and the features NovaGenIA does not have,
answered empty so A1111 clients start. Generation, progress and options are in
`a1111.py`, whose router (with the catch-all 404) is included after this one."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from novagenia.api.compat.a1111_protocol import sampler_list, scheduler_list
from novagenia.api.compat.access import CompatCaller, CompatReader
from novagenia.api.deps import Context

router = APIRouter(prefix="/sdapi/v1", tags=["AUTOMATIC1111 compatibility"])


@router.get("/sd-models")
async def sd_models(context: Context, _: CompatReader) -> list[dict[str, Any]]:
    return [
        {
            "title": model.id,
            "model_name": model.id,
            "hash": None,
            "sha256": None,
            "filename": str(model.path),
            "config": None,
        }
        for model in context.registry.list()
    ]


@router.get("/loras")
async def loras(context: Context, _: CompatReader) -> list[dict[str, Any]]:
    """The LoRA library, as A1111 lists its LoRAs (use them as `<lora:name:weight>`)."""
    library = context.loras
    found = await asyncio.to_thread(library.scan)
    return [
        {
            "name": lora.name,
            "alias": lora.title or lora.name,
            "path": str(library.weights_path(lora.name)),
            "metadata": {},
        }
        for lora in found
    ]


@router.get("/samplers")
async def samplers() -> list[dict[str, Any]]:
    return sampler_list()


@router.get("/schedulers")
async def schedulers() -> list[dict[str, Any]]:
    return scheduler_list()


@router.get("/scripts")
async def scripts() -> dict[str, list[str]]:
    """The ControlNet extension's always-on script (webuiapi probes this to detect it)."""
    return {"txt2img": ["controlnet"], "img2img": ["controlnet"]}


@router.get("/cmd-flags")
async def cmd_flags(context: Context, _: CompatReader) -> dict[str, Any]:
    return {"api": True, "nowebui": False, "api_auth": bool(context.args.api_keys)}


async def _nothing() -> list[Any]:
    """A1111 features NovaGenIA does not have: an empty list, so clients can start."""
    return []


for _resource in (
    "sd-vae",
    "upscalers",
    "realesrgan-models",
    "hypernetworks",
    "prompt-styles",
    "face-restorers",
):
    router.add_api_route(f"/{_resource}", _nothing, methods=["GET"], summary=f"No {_resource}")


@router.get("/embeddings")
async def embeddings() -> dict[str, dict[str, Any]]:
    return {"loaded": {}, "skipped": {}}


@router.post("/refresh-checkpoints")
@router.post("/refresh-loras")
async def refresh(caller: CompatCaller) -> None:
    """Models and LoRAs are read from disk on every request: nothing to refresh."""
