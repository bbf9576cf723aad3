"""`/models`: installed models, where they are loaded, and their removal."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from fastapi import APIRouter, HTTPException, Response, status

from novagenia.api.deps import Caller, Context
from novagenia.api.schemas import CapabilitiesOut, ModelList, ModelOut
from novagenia.engine.families import FAMILIES, Capabilities
from novagenia.models import ModelNotDeletable

router = APIRouter(tags=["models"])


@router.get("/models", response_model=ModelList)
async def list_models(context: Context) -> ModelList:
    """`loaded_on`: the Diffusion replicas holding the model now (they report every 30 s)."""
    default = context.registry.default_model
    loaded_on = await context.board.loaded_on.remote()
    models = await asyncio.to_thread(context.registry.list)
    return ModelList(
        models=[
            ModelOut(
                id=m.id,
                source=m.source,
                pipeline_class=m.pipeline_class,
                size_bytes=m.size_bytes if m.path.exists() else 0,
                native_size=m.native_size,
                default=m.id == default,
                deletable=m.source == "local" and m.id != default,
                samplers=list(m.samplers),
                capabilities=capabilities_out(m.capabilities),
                loaded_on=loaded_on.get(m.id, []),
                memory=context.args.memory_plan(m.id),
            )
            for m in models
        ]
    )


def capabilities_out(capabilities: Capabilities | None) -> CapabilitiesOut | None:
    if capabilities is None:
        return None
    # samplers and native size are ModelOut's own fields; the rest is passed as it is
    return CapabilitiesOut.model_validate(
        {**asdict(capabilities), "family_label": FAMILIES[capabilities.family].label}
    )


@router.delete(
    "/models/{model_id:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={
        403: {"description": "An embedded model."},
        404: {"description": "No installed model with this id."},
        409: {"description": "The default model, or jobs for it are queued or running."},
    },
)
async def delete_model(model_id: str, context: Context, caller: Caller) -> Response:
    """Removes an installed model: 409 while a job for it is queued or running, 403 for
    the embedded models. Replicas that hold it drop it at their next eviction."""
    info = context.registry.get(model_id)  # 404 when unknown
    if info.source != "local":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"{model_id} is embedded and cannot be deleted"
        )
    if model_id == context.registry.default_model:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{model_id} is the default model")
    await context.board.begin_model_removal.remote(model_id)  # 409 while jobs use it
    try:
        await asyncio.to_thread(context.registry.delete, model_id)
    except ModelNotDeletable as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    finally:
        await context.board.end_model_removal.remote(model_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
