"""`/inputs`: input images (img2img init images, inpainting masks) uploaded once and
named by jobs (`init_image`, `mask`); a job may send a data URL instead."""

from __future__ import annotations

import asyncio
import io
import re

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from novagenia.api.deps import Caller, Context
from novagenia.api.uploads import MULTIPART_OVERHEAD, receive_upload, upload_form
from novagenia.config import AppArgs
from novagenia.inputs import InputNotFound, InvalidImage, decode_image
from novagenia.submission import InvalidInput

router = APIRouter(prefix="/inputs", tags=["inputs"])

_INPUT_NAME = re.compile(r"^([0-9a-f]{32})\.png$")


class InputOut(BaseModel):
    id: str = Field(description="What a job names as `init_image` or `mask`.")
    width: int
    height: int
    url: str


def upload_limit_bytes(args: AppArgs, files: int = 1) -> int:
    return files * int(args.max_input_mb * 1024 * 1024) + MULTIPART_OVERHEAD


def json_with_images_limit_bytes(args: AppArgs) -> int:
    """A JSON body that may carry an init image and a mask as base64 (4/3 of their
    bytes): an A1111 img2img request (v1 jobs keep `max_request_bytes`: larger pictures
    go through POST /inputs)."""
    return args.max_request_bytes + int(2 * args.max_input_mb * 1024 * 1024 * 4 / 3)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=InputOut,
    openapi_extra=upload_form("The image: PNG, JPEG or WebP."),
)
async def upload_input(request: Request, context: Context, caller: Caller) -> InputOut:
    """Multipart form with a `file`: decoded within the size and pixel limits, turned
    upright by its EXIF orientation, stored as PNG. The same picture twice is one input."""
    limit = int(context.args.max_input_mb * 1024 * 1024)
    sink = io.BytesIO()
    await receive_upload(request, sink, limit)
    try:
        image = await asyncio.to_thread(decode_image, sink.getvalue(), limit)
    except InvalidImage as exc:
        raise InvalidInput("file", str(exc)) from None
    stored = await asyncio.to_thread(context.inputs.save, image)
    return InputOut(id=stored.id, width=stored.width, height=stored.height, url=stored.url)


@router.get(
    "/{name}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, 404: {"description": "No such input"}},
)
async def get_input(name: str, context: Context) -> Response:
    match = _INPUT_NAME.match(name)
    if match is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such input")
    try:
        data = await asyncio.to_thread(context.inputs.read, match.group(1))
    except InputNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such input") from None
    return Response(
        data,
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )
