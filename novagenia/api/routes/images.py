"""`GET /images/{job_id}/{index}.png`: only files the output store holds."""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, Response, status

from novagenia.api.deps import Context
from novagenia.paths import UnsafeName

router = APIRouter(tags=["images"])

_IMAGE_NAME = re.compile(r"^(\d{1,3})\.png$")


@router.get(
    "/images/{job_id}/{name}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, 404: {"description": "No such image"}},
)
async def get_image(job_id: str, name: str, context: Context) -> Response:
    match = _IMAGE_NAME.match(name)
    if match is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such image")
    try:
        data = context.store.read(job_id, int(match.group(1)))
    except (FileNotFoundError, UnsafeName):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such image") from None
    return Response(
        data,
        media_type="image/png",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
