"""Read-only facts about the server: health, configuration, models, samplers."""

from __future__ import annotations

from fastapi import APIRouter

from novagenia import __version__
from novagenia.api.deps import Context
from novagenia.api.schemas import (
    Health,
    Limits,
    ModelList,
    ModelOut,
    SamplerList,
    SamplerOut,
    ServerConfig,
)
from novagenia.engine.samplers import SAMPLERS

router = APIRouter(tags=["system"])


@router.get("/health", response_model=Health)
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
        max_batch_size=limits.max_batch_size,
        limits=limits,
    )


@router.get("/samplers", response_model=SamplerList)
async def list_samplers() -> SamplerList:
    return SamplerList(samplers=[SamplerOut(name=s.name, label=s.label) for s in SAMPLERS.values()])


@router.get("/models", response_model=ModelList)
async def list_models(context: Context) -> ModelList:
    default = context.registry.default_model
    return ModelList(
        models=[
            ModelOut(
                id=m.id,
                source=m.source,
                pipeline_class=m.pipeline_class,
                size_bytes=m.size_bytes if m.path.exists() else 0,
                native_size=m.native_size,
                default=m.id == default,
            )
            for m in context.registry.list()
        ]
    )
