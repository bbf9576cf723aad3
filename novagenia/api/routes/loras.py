"""`/loras`: the LoRA library — list and search, upload, metadata, preview, delete.

Uploads stream straight into the library's staging directory (never whole into
memory), are checked there (size as they arrive; safetensors header, no pickles) and
only then renamed into place, so a bad or partial file is never listed or loaded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel

from novagenia.api.deps import AppContext, Caller, Context
from novagenia.api.uploads import MULTIPART_OVERHEAD, UploadForm, receive_upload, upload_form
from novagenia.config import AppArgs
from novagenia.loras.fit import fitting_models
from novagenia.loras.library import (
    SUFFIX,
    Lora,
    LoraUpdate,
)
from novagenia.models import ModelInfo
from novagenia.paths import UnsafeName, check_segment
from novagenia.submission import InvalidInput

router = APIRouter(prefix="/loras", tags=["loras"])

MAX_FIELD_BYTES = 1024


class LoraList(BaseModel):
    loras: list[Lora]


def upload_limit_bytes(args: AppArgs) -> int:
    """The largest upload body (the file plus the multipart framing)."""
    return int(args.max_lora_upload_mb * 1024 * 1024) + MULTIPART_OVERHEAD


@router.get("", response_model=LoraList)
async def list_loras(
    context: Context,
    q: Annotated[str | None, Query(max_length=200, description="Words to find.")] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    base: Annotated[
        str | None, Query(max_length=64, description="Base-model family: sd1, sd2, sdxl…")
    ] = None,
) -> LoraList:
    loras = await asyncio.to_thread(_fitted, context, context.loras.search, q, tag, base)
    return LoraList(loras=loras)


@router.post("/rescan", response_model=LoraList)
async def rescan_loras(context: Context, caller: Caller) -> LoraList:
    """Re-reads every header and sidecar (listing already notices changed files)."""
    return LoraList(loras=await asyncio.to_thread(_fitted, context, context.loras.rescan))


UPLOAD_FORM = upload_form(
    "A `.safetensors` LoRA.",
    {"name": {"type": "string", "description": "Library name (optional)."}},
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Lora,
    openapi_extra=UPLOAD_FORM,  # the body is parsed by hand, as a stream
)
async def upload_lora(
    request: Request,
    context: Context,
    caller: Caller,
    overwrite: Annotated[bool, Query(description="Replace a LoRA of the same name.")] = False,
) -> Lora:
    """Multipart form: `file` (a `.safetensors` LoRA) and an optional `name` (else the
    file name without its extension)."""
    library = context.loras
    limit = int(context.args.max_lora_upload_mb * 1024 * 1024)
    with library.staging() as staged:
        with staged.open("wb") as sink:
            form = await receive_upload(request, sink, limit)
        name = upload_name(form)
        installed = await asyncio.to_thread(library.install, staged, name, overwrite)
    return await asyncio.to_thread(_with_fits, context, installed)


@router.get("/{name}", response_model=Lora)
async def get_lora(name: str, context: Context) -> Lora:
    return await asyncio.to_thread(lambda: _with_fits(context, context.loras.get(name)))


@router.put("/{name}", response_model=Lora)
async def update_lora(name: str, change: LoraUpdate, context: Context, caller: Caller) -> Lora:
    """Changes only the fields sent; they are kept in `<name>.json` next to the file."""
    context.loras.get(name)  # 404 before anything is written
    updated = await asyncio.to_thread(context.loras.update, name, change)
    return await asyncio.to_thread(_with_fits, context, updated)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_lora(name: str, context: Context, caller: Caller) -> Response:
    await asyncio.to_thread(context.loras.delete, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{name}/preview", response_class=FileResponse)
async def lora_preview(name: str, context: Context) -> FileResponse:
    path = context.loras.preview_path(name)
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"LoRA {name!r} has no preview")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})


def _with_fits(context: AppContext, lora: Lora, models: list[ModelInfo] | None = None) -> Lora:
    """The LoRA with the installed models it fits (header reads, cached per file)."""
    path = context.loras.weights_path(lora.name)
    installed = context.registry.list() if models is None else models
    return lora.model_copy(update={"fits": fitting_models(path, installed)})


def _fitted(context: AppContext, list_loras: Callable[..., list[Lora]], *args) -> list[Lora]:
    models = context.registry.list()  # once per listing, not once per LoRA
    return [_with_fits(context, lora, models) for lora in list_loras(*args)]


def upload_name(form: UploadForm) -> str:
    """The library name: the `name` field, else the file name, without `.safetensors`;
    either must be a plain name (no paths, no odd characters)."""
    if form.name:
        name, source = form.name, "name"
    else:
        if not (form.filename or "").endswith(SUFFIX):
            raise InvalidInput("file", f"only {SUFFIX} files are accepted")
        name, source = form.filename or "", "file"
    name = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    try:
        return check_segment(name)
    except UnsafeName:
        raise InvalidInput(
            source,
            f"invalid LoRA name {name!r}: use letters, digits, '.', '_' and '-' "
            "(no paths, at most 128 characters)",
        ) from None
