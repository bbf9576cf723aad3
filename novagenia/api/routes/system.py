"""Read-only facts about the server: health, configuration, samplers (models: `models.py`)."""

from __future__ import annotations

from fastapi import APIRouter

from novagenia import __version__
from novagenia.api.deps import Context
from novagenia.api.schemas import (
    Health,
    Limits,
    SamplerList,
    SamplerOut,
    ServerConfig,
)
from novagenia.engine.samplers import SAMPLERS

router = APIRouter(tags=["system"])
# Liveness stays open even when reads need a key: probes and load balancers carry none.
health_router = APIRouter(tags=["system"])


@health_router.get("/health", response_model=Health)
async def health() -> Health:
    return Health(status="ok", version=__version__)


@router.get("/config", response_model=ServerConfig)
async def server_config(context: Context) -> ServerConfig:
    args = context.args
    limits = Limits(
        max_size=args.max_image_size,
        max_steps=args.max_steps,
        max_batch_size=args.max_images_per_job,
    )
    return ServerConfig(
        version=__version__,
        default_model=context.registry.default_model,
        auth_required=bool(args.api_keys),
        limits=limits,
    )


@router.get("/samplers", response_model=SamplerList)
async def list_samplers() -> SamplerList:
    return SamplerList(samplers=[SamplerOut(name=s.name, label=s.label) for s in SAMPLERS.values()])
