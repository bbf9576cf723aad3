"""`/loras`: the LoRA library — list and search, upload, metadata, preview, delete.

Uploads stream straight into the library's staging directory (never whole into
memory), are checked there (size as they arrive; safetensors header, no pickles) and
only then renamed into place, so a bad or partial file is never listed or loaded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, BinaryIO

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel
from python_multipart.multipart import MultipartParser, parse_options_header

from novagenia.api.deps import AppContext, Caller, Context
from novagenia.config import AppArgs
from novagenia.loras.describe import PICKLE_REFUSED, InvalidLora
from novagenia.loras.fit import fitting_models
from novagenia.loras.library import (
    SUFFIX,
    Lora,
    LoraExists,
    LoraLibrary,
    LoraNotFound,
    LoraUpdate,
)
from novagenia.paths import UnsafeName, check_segment
from novagenia.safetensors_header import PICKLE_SUFFIXES

router = APIRouter(prefix="/loras", tags=["loras"])

MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and the `name` field
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


UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string", "description": "Library name (optional)."},
                    },
                }
            }
        },
    }
}


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
        try:
            installed = await asyncio.to_thread(library.install, staged, name, overwrite)
        except InvalidLora as exc:
            raise _invalid("file", str(exc)) from None
        except LoraExists:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"LoRA {name!r} exists; pass ?overwrite=true to replace it",
            ) from None
    return await asyncio.to_thread(_with_fits, context, installed)


@router.get("/{name}", response_model=Lora)
async def get_lora(name: str, context: Context) -> Lora:
    return await asyncio.to_thread(lambda: _with_fits(context, _get(context.loras, name)))


@router.put("/{name}", response_model=Lora)
async def update_lora(name: str, change: LoraUpdate, context: Context, caller: Caller) -> Lora:
    """Changes only the fields sent; they are kept in `<name>.json` next to the file."""
    _get(context.loras, name)
    updated = await asyncio.to_thread(context.loras.update, name, change)
    return await asyncio.to_thread(_with_fits, context, updated)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_lora(name: str, context: Context, caller: Caller) -> Response:
    try:
        await asyncio.to_thread(context.loras.delete, name)
    except (LoraNotFound, UnsafeName):
        raise _not_found(name) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{name}/preview", response_class=FileResponse)
async def lora_preview(name: str, context: Context) -> FileResponse:
    try:
        path = context.loras.preview_path(name)
    except UnsafeName:
        raise _not_found(name) from None
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"LoRA {name!r} has no preview")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})


def _with_fits(context: AppContext, lora: Lora) -> Lora:
    """The LoRA with the installed models it fits (header reads, cached per file)."""
    path = context.loras.weights_path(lora.name)
    return lora.model_copy(update={"fits": fitting_models(path, context.registry.list())})


def _fitted(context: AppContext, list_loras: Callable[..., list[Lora]], *args) -> list[Lora]:
    return [_with_fits(context, lora) for lora in list_loras(*args)]


def _get(library: LoraLibrary, name: str) -> Lora:
    try:
        return library.get(name)
    except (LoraNotFound, UnsafeName):
        raise _not_found(name) from None


def _not_found(name: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no LoRA named {name!r}")


def _invalid(field_name: str, message: str) -> HTTPException:
    """A 422 in FastAPI's validation-error shape."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"loc": ["body", field_name], "msg": message, "type": "value_error"}],
    )


@dataclass
class UploadForm:
    """What a multipart upload carried besides the file's bytes."""

    filename: str | None = None
    name: str | None = None
    file_bytes: int = 0


class _UploadParser:
    """python-multipart callbacks: the `file` part goes to `sink` as it arrives, the
    small `name` field is kept, anything else is ignored."""

    def __init__(self, sink: BinaryIO, limit: int) -> None:
        self.sink = sink
        self.limit = limit
        self.form = UploadForm()
        self._headers: dict[bytes, bytes] = {}
        self._header_field = b""
        self._header_value = b""
        self._part: str | None = None
        self._name = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition"))
        part = options.get(b"name", b"").decode("latin-1")
        if part == "file":
            if self.form.filename is not None:
                raise _invalid("file", "send one file per upload")
            filename = options.get(b"filename", b"").decode("utf-8", "replace")
            if filename.lower().endswith(PICKLE_SUFFIXES):
                raise _invalid("file", PICKLE_REFUSED)
            self.form.filename = filename
        self._part = part if part in ("file", "name") else None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._part == "file":
            self.form.file_bytes += len(chunk)
            if self.form.file_bytes > self.limit:
                raise HTTPException(
                    status.HTTP_413_CONTENT_TOO_LARGE,
                    f"LoRA files are limited to {self.limit / 1024 / 1024:g} MB on this server",
                )
            self.sink.write(chunk)
        elif self._part == "name":
            self._name += chunk
            if len(self._name) > MAX_FIELD_BYTES:
                raise _invalid("name", "too long")

    def _part_end(self) -> None:
        if self._part == "name":
            self.form.name = self._name.decode("utf-8", "replace").strip()
        self._part = None


async def receive_upload(request: Request, sink: BinaryIO, limit: int) -> UploadForm:
    """Streams a multipart body: the file into `sink`, 413 past `limit` bytes."""
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise _invalid("file", "send the LoRA as multipart/form-data with a `file` field")
    handler = _UploadParser(sink, limit)
    parser = MultipartParser(boundary, handler.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except HTTPException:
        raise
    except Exception as exc:  # python-multipart's parse errors
        raise _invalid("file", f"malformed multipart body ({type(exc).__name__})") from None
    if handler.form.filename is None:
        raise _invalid("file", "no `file` field in the form")
    return handler.form


def upload_name(form: UploadForm) -> str:
    """The library name: the `name` field, else the file name, without `.safetensors`;
    either must be a plain name (no paths, no odd characters)."""
    if form.name:
        name, source = form.name, "name"
    else:
        if not (form.filename or "").endswith(SUFFIX):
            raise _invalid("file", f"only {SUFFIX} files are accepted")
        name, source = form.filename or "", "file"
    name = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    try:
        return check_segment(name)
    except UnsafeName:
        raise _invalid(
            source,
            f"invalid LoRA name {name!r}: use letters, digits, '.', '_' and '-' "
            "(no paths, at most 128 characters)",
        ) from None
