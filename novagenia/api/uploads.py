"""Streaming a multipart upload (one `file` part, an optional `name` field) straight to a
file: never whole in memory, refused as soon as it passes its size limit or names a
pickle checkpoint. The LoRA upload route uses it (`routes/loras.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

from fastapi import HTTPException, Request, status
from python_multipart.multipart import MultipartParser, parse_options_header

from novagenia.loras.describe import PICKLE_REFUSED
from novagenia.safetensors_header import PICKLE_SUFFIXES
from novagenia.submission import InvalidInput

MAX_FIELD_BYTES = 1024


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
                raise InvalidInput("file", "send one file per upload")
            filename = options.get(b"filename", b"").decode("utf-8", "replace")
            if filename.lower().endswith(PICKLE_SUFFIXES):
                raise InvalidInput("file", PICKLE_REFUSED)
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
                raise InvalidInput("name", "too long")

    def _part_end(self) -> None:
        if self._part == "name":
            self.form.name = self._name.decode("utf-8", "replace").strip()
        self._part = None


MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and small fields


def upload_form(file_description: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI request body of a multipart upload route (its body is parsed by hand,
    as a stream, so FastAPI cannot describe it): a `file` and optional `fields`."""
    properties = {"file": {"type": "string", "format": "binary", "description": file_description}}
    schema = {
        "type": "object",
        "required": ["file"],
        "properties": {**properties, **(fields or {})},
    }
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


async def receive_upload(request: Request, sink: BinaryIO, limit: int) -> UploadForm:
    """Streams a multipart body: the file into `sink`, 413 past `limit` bytes."""
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidInput("file", "send the file as multipart/form-data with a `file` field")
    handler = _UploadParser(sink, limit)
    parser = MultipartParser(boundary, handler.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except (HTTPException, InvalidInput):
        raise
    except Exception as exc:  # python-multipart's parse errors
        raise InvalidInput("file", f"malformed multipart body ({type(exc).__name__})") from None
    if handler.form.filename is None:
        raise InvalidInput("file", "no `file` field in the form")
    return handler.form
