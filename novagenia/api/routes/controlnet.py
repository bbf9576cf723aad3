"""`/controlnet`: the installed ControlNets, the preprocessors, and a preview of what a
preprocessor makes of a picture (the control map a job's unit would get)."""

from __future__ import annotations

import asyncio
import io
from typing import get_args

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from PIL import Image
from pydantic import TypeAdapter, ValidationError

from novagenia.api.deps import Caller, Context
from novagenia.api.schemas import (
    ControlNetList,
    ControlNetOut,
    PreprocessorList,
    PreprocessorOut,
)
from novagenia.controlnet.preprocessors import Preprocessor
from novagenia.inputs import InputNotFound
from novagenia.models import ModelNotDeletable, ModelNotFound
from novagenia.paths import UnsafeName
from novagenia.submission import InvalidInput

router = APIRouter(prefix="/controlnet", tags=["controlnet"])

PREPROCESSOR = TypeAdapter(Preprocessor)
PREPROCESSOR_CLASSES = get_args(get_args(Preprocessor)[0])
PREVIEW_PARAMETERS = {"image", "preprocessor", "width", "height"}


@router.get("/models", response_model=ControlNetList)
async def list_controlnets(context: Context) -> ControlNetList:
    """ControlNets installed in the models folder (diffusers `ControlNetModel` folders,
    from the Hub or copied in) and the embedded one."""
    found = await asyncio.to_thread(context.registry.controlnets)
    return ControlNetList(
        controlnets=[
            ControlNetOut(id=c.id, source=c.source, family=c.family, size_bytes=c.size_bytes)
            for c in found
        ]
    )


@router.delete(
    "/models/{model_id:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={403: {"description": "The embedded one."}, 404: {"description": "Not installed."}},
)
async def delete_controlnet(model_id: str, context: Context, caller: Caller) -> Response:
    """Removes an installed ControlNet. Jobs that name it afterwards are refused; one
    already queued fails with the reason."""
    try:
        await asyncio.to_thread(context.registry.delete_controlnet, model_id)
    except (ModelNotFound, UnsafeName):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no ControlNet {model_id!r}") from None
    except ModelNotDeletable as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/preprocessors", response_model=PreprocessorList)
async def list_preprocessors() -> PreprocessorList:
    preprocessors = []
    for cls in PREPROCESSOR_CLASSES:
        schema = cls.model_json_schema()
        schema["properties"].pop("name")
        preprocessors.append(
            PreprocessorOut(
                name=cls.model_fields["name"].default,
                description=" ".join((cls.__doc__ or "").split()),
                options=schema,
            )
        )
    return PreprocessorList(preprocessors=preprocessors)


@router.get(
    "/preprocess",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, 404: {"description": "No such input"}},
)
async def preprocess(
    request: Request,
    context: Context,
    image: str = Query(description="An input id (POST /inputs)."),
    preprocessor: str = Query("canny", description="A name from GET /controlnet/preprocessors."),
    width: int | None = Query(None, ge=64, le=2048, description="Resize to this first."),
    height: int | None = Query(None, ge=64, le=2048, description="Resize to this first."),
) -> Response:
    """The control map a unit with this preprocessor would get: the picture resized to
    width × height (as a job's is; absent: its own size), then preprocessed. The
    preprocessor's options are further query parameters (e.g. `low_threshold=50`)."""
    options = {k: v for k, v in request.query_params.items() if k not in PREVIEW_PARAMETERS}
    try:
        chosen = PREPROCESSOR.validate_python({**options, "name": preprocessor})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInput(
            ".".join(str(part) for part in first["loc"][1:]) or "preprocessor", first["msg"]
        ) from None
    try:
        picture = await asyncio.to_thread(context.inputs.load, image)
    except InputNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no input image {image!r}") from None

    def render() -> bytes:
        resized = picture
        if width or height:
            resized = picture.resize(
                (width or picture.width, height or picture.height), Image.LANCZOS
            )
        buffer = io.BytesIO()
        chosen.run(resized).save(buffer, format="PNG")
        return buffer.getvalue()

    return Response(await asyncio.to_thread(render), media_type="image/png")
