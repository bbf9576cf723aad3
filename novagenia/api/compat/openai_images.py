"""`/v1/images/generations` and `/v1/models`: the OpenAI images API, translated onto the
JobBoard, with every error in OpenAI's shape `{"error": {message, type, param, code}}`.

- `model`: an installed model id; any other name ("dall-e-3", "gpt-image-1") means the
  server's default model (logged).
- `n` images (1…8) are one job (one pipeline call); `size` is `WIDTHxHEIGHT` in multiples
  of 8 (64…2048), or `auto` for the model's native size.
- `response_format`: `url` (OpenAI's default; an absolute URL of `/api/v1/images/...`)
  or `b64_json` (the default when `model` names a `gpt-image-*` model, which only
  answers with base64).
- `quality`: `low` runs the job with `speed: fast` (step caching); `auto`, `medium`,
  `high`, `standard` and `hd` run every step in full.
- `style` and other OpenAI options have no equivalent here and are ignored.
- NovaGenIA extensions, for clients that can add body fields (`extra_body` in the
  official client): `negative_prompt`, `seed`, `steps`, `guidance_scale`, `sampler`.
- `/v1/images/edits` (multipart): `image` is the init image; with a `mask`, its fully
  transparent pixels are redrawn (OpenAI's rule) and the rest kept; without one the
  whole image is redrawn by `strength` (an extension, default 0.75).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.datastructures import UploadFile  # what Request.form() yields

from novagenia.api.compat.access import CompatCaller, CompatReader
from novagenia.api.compat.generation import (
    GenerationTimeout,
    b64,
    data_url,
    describe_ignored,
    new_job_ids,
    read_pngs,
    resolve_foreign,
    run_jobs,
)
from novagenia.api.deps import AppContext, Context
from novagenia.api.errors import RETRY_AFTER_S, domain_error
from novagenia.api.idempotent import Retry, SafeRetry, job_ids_for
from novagenia.api.uploads import upload_form
from novagenia.inputs import InvalidImage, decode_image
from novagenia.jobs.board import IdempotencyConflict, QueueFull
from novagenia.jobs.quotas import QuotaExceeded
from novagenia.jobs.schemas import MAX_SEED, JobStatus
from novagenia.models import ModelInfo, ModelNotFound, ModelRegistry
from novagenia.outputs import DiskFull
from novagenia.paths import UnsafeName
from novagenia.submission import InvalidInput

logger = logging.getLogger("novagenia.compat.openai")

JOB_PREFIX = "openai"
FIELD_NAMES = {"width": "size", "height": "size", "batch_size": "n", "init_image": "image"}
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")


def openai_error(
    status_code: int,
    message: str,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    kind = "invalid_request_error" if status_code < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status_code, headers=headers)


class OpenAIRoute(APIRoute):
    """Turns every error of these routes (validation, auth, domain) into OpenAI's shape,
    without touching the error shape of the rest of the app."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _validation_error(exc.errors())
            except HTTPException as exc:
                if isinstance(exc.detail, list):
                    return _validation_error(exc.detail)
                code = "invalid_api_key" if exc.status_code == 401 else None
                return openai_error(
                    exc.status_code, str(exc.detail), code=code, headers=exc.headers
                )
            except InvalidInput as exc:
                return _validation_error(exc.errors())
            except QueueFull:
                return openai_error(
                    status.HTTP_503_SERVICE_UNAVAILABLE,
                    "the queue is full; retry later",
                    code="queue_full",
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            except QuotaExceeded as exc:
                quota = domain_error(exc)
                return openai_error(
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    str(quota),
                    code="rate_limit_exceeded",
                    headers={"Retry-After": str(quota.retry_after_s)},
                )
            except DiskFull as exc:
                return openai_error(status.HTTP_507_INSUFFICIENT_STORAGE, str(exc))
            except IdempotencyConflict as exc:
                return openai_error(
                    status.HTTP_409_CONFLICT, str(exc), code="idempotency_key_reused"
                )

        return handle


def _validation_error(errors: Any) -> JSONResponse:
    """OpenAI answers invalid parameters with 400, naming the first offending one."""
    first = errors[0] if errors else {}
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = loc[0] if loc else None
    message = first.get("msg", "invalid request")
    return openai_error(
        status.HTTP_400_BAD_REQUEST,
        f"{param}: {message}" if param else message,
        param=param,
        code="invalid_value",
    )


router = APIRouter(prefix="/v1", tags=["OpenAI compatibility"], route_class=OpenAIRoute)


class ImageGenerationRequest(BaseModel):
    """`POST /v1/images/generations`."""

    model_config = ConfigDict(extra="allow")

    prompt: str = Field(min_length=1, max_length=4000)
    model: str | None = Field(None, max_length=200)
    n: int = Field(1, ge=1, le=8)
    size: str | None = Field(None, description="`WIDTHxHEIGHT` or `auto`.")
    response_format: Literal["url", "b64_json"] | None = None
    user: str | None = Field(None, max_length=128)
    stream: Literal[False] = Field(False, description="Streaming partial images is not supported.")
    quality: Literal["auto", "low", "medium", "high", "standard", "hd"] | None = Field(
        None, description="`low`: step caching (`speed: fast`); the others: every step in full."
    )
    negative_prompt: str = Field("", max_length=4000, description="NovaGenIA extension.")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="NovaGenIA extension.")
    steps: int | None = Field(None, ge=1, le=150, description="NovaGenIA extension.")
    guidance_scale: float | None = Field(None, description="NovaGenIA extension.")
    sampler: str | None = Field(None, description="NovaGenIA extension (our sampler names).")

    @field_validator("size")
    @classmethod
    def _size_shape(cls, value: str | None) -> str | None:
        if value is None or value == "auto" or _SIZE.match(value):
            return value
        raise ValueError("size must be WIDTHxHEIGHT (e.g. 512x512) or auto")

    def dimensions(self) -> tuple[int | None, int | None]:
        match = _SIZE.match(self.size or "")
        return (int(match[1]), int(match[2])) if match else (None, None)


class ImageEditRequest(ImageGenerationRequest):
    """The fields of `POST /v1/images/edits` besides its files."""

    strength: float = Field(
        0.75,
        gt=0,
        le=1,
        description="NovaGenIA extension: how much of an unmasked image is redrawn.",
    )


class ImageVariationRequest(ImageEditRequest):
    """The fields of `POST /v1/images/variations` besides its image: OpenAI's take no
    prompt; here the picture is redrawn by img2img from the prompt it was made with (the
    PNG parameters NovaGenIA, A1111 and others embed), or from `prompt` when sent."""

    prompt: str | None = Field(
        None, max_length=4000, description="NovaGenIA extension: what the picture shows."
    )
    strength: float = Field(
        0.6, gt=0, le=1, description="NovaGenIA extension: how much of the picture is redrawn."
    )


class ImageData(BaseModel):
    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


class ImagesResponse(BaseModel):
    created: int
    data: list[ImageData]


@router.post("/images/generations", response_model=ImagesResponse, response_model_exclude_none=True)
async def generate_images(
    body: ImageGenerationRequest,
    request: Request,
    context: Context,
    caller: CompatCaller,
    retry: SafeRetry,
) -> ImagesResponse:
    """Generates `n` images and answers when they are done."""
    return await _generate(body, {}, request, context, caller, retry)


@router.post(
    "/images/edits",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    openapi_extra=upload_form(
        "The image to edit (PNG, JPEG or WebP).",
        {
            "mask": {"type": "string", "format": "binary", "description": "Transparent = edit."},
            "prompt": {"type": "string"},
        },
    ),
)
async def edit_images(
    request: Request, context: Context, caller: CompatCaller, retry: SafeRetry
) -> ImagesResponse:
    """Multipart form: `image`, optional `mask`, and the fields of a generation."""
    form, body, data = await _image_form(request, context, ImageEditRequest, max_files=2)
    limit = int(context.args.max_input_mb * 1024 * 1024)
    images: dict[str, Any] = {"init_image": data_url(data), "strength": body.strength}
    mask = form.get("mask")
    if isinstance(mask, UploadFile):
        transparent = await asyncio.to_thread(_transparent_part, await mask.read(limit + 1), limit)
        stored = await asyncio.to_thread(context.inputs.save, transparent)
        images |= {"mask": stored.id, "mask_blur": 0, "strength": 1.0}
    return await _generate(body, images, request, context, caller, retry)


@router.post(
    "/images/variations",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    openapi_extra=upload_form("The picture to vary (PNG, JPEG or WebP)."),
)
async def vary_images(
    request: Request, context: Context, caller: CompatCaller, retry: SafeRetry
) -> ImagesResponse:
    """Multipart form: `image` and the fields of a generation, its prompt optional: `n`
    pictures like the given one, each redrawn by img2img (`strength`) with its own seed."""
    _, body, data = await _image_form(request, context, ImageVariationRequest, max_files=1)
    limit = int(context.args.max_input_mb * 1024 * 1024)
    try:  # checked (size, pixels, format) before anything reads its text chunks
        picture = await asyncio.to_thread(decode_image, data, limit)
    except InvalidImage as exc:
        raise InvalidInput("image", str(exc)) from None
    prompt = body.prompt or _embedded_prompt(picture)
    if not prompt:
        raise InvalidInput(
            "prompt",
            "the picture carries no prompt (no PNG parameters): send `prompt` with it",
        )
    body = body.model_copy(update={"prompt": prompt})
    images = {"init_image": data_url(data), "strength": body.strength}
    return await _generate(body, images, request, context, caller, retry)


async def _image_form(
    request: Request, context: AppContext, model: type[ImageEditRequest], max_files: int
) -> tuple[Any, Any, bytes]:
    """A multipart images request: its form, its fields as `model`, and the bytes of its
    `image` file (at most one past the size limit, for the decoder to refuse)."""
    form = await request.form(max_files=max_files, max_fields=32)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        body = model.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    image = form.get("image") or form.get("image[]")
    if not isinstance(image, UploadFile):
        raise InvalidInput("image", "send the picture as a multipart file field `image`")
    return form, body, await image.read(int(context.args.max_input_mb * 1024 * 1024) + 1)


def _embedded_prompt(picture: Image.Image) -> str | None:
    """The prompt of A1111-style PNG parameters: the lines before `Negative prompt:`
    and the settings line."""
    lines = str(picture.info.get("parameters", "")).strip().split("\n")
    if len(lines) < 2:
        return None
    prompt = []
    for line in lines[:-1]:
        if line.startswith("Negative prompt:"):
            break
        prompt.append(line)
    return "\n".join(prompt).strip() or None


def _transparent_part(data: bytes, limit: int) -> Image.Image:
    """OpenAI's mask (fully transparent = edit) as ours (white = redraw)."""
    try:
        mask = decode_image(data, limit, keep_alpha=True)
    except InvalidImage as exc:
        raise InvalidInput("mask", str(exc)) from None
    if mask.mode != "RGBA":
        raise InvalidInput(
            "mask", "the mask needs an alpha channel: its transparent part is edited"
        )
    return mask.getchannel("A").point(lambda alpha: 255 if alpha == 0 else 0).convert("RGB")


async def _generate(
    body: ImageGenerationRequest,
    images: dict[str, Any],
    request: Request,
    context: AppContext,
    caller: str | None,
    retry: Retry,
) -> ImagesResponse:
    if body.model_extra:
        logger.info("images: ignoring unsupported fields: %s", describe_ignored(body.model_extra))
    width, height = body.dimensions()
    fields = {
        "prompt": body.prompt,
        "negative_prompt": body.negative_prompt,
        "model": _installed_model(context.registry, body.model),
        "width": width,
        "height": height,
        "seed": body.seed,
        "batch_size": body.n,
        "user": body.user,
        "speed": "fast" if body.quality == "low" else "quality",
        **images,
    }
    for name in ("steps", "guidance_scale", "sampler"):
        if getattr(body, name) is not None:
            fields[name] = getattr(body, name)
    generation = resolve_foreign(fields, FIELD_NAMES, context)
    sent = {"body": body.model_dump(mode="json", exclude_unset=True), "images": images}
    job_ids = await job_ids_for(context, retry, caller, sent, new_job_ids(JOB_PREFIX, 1))
    try:
        # With a key the client will retry a lost answer: its job goes on meanwhile.
        [job] = await run_jobs(
            context, job_ids, [generation], body.user or caller, caller, retry.key is None
        )
    except GenerationTimeout as exc:
        raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, str(exc)) from None
    if job.status is JobStatus.failed:
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR, f"generation failed: {job.error}"
        )
    if job.status is not JobStatus.succeeded:  # cancelled
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job.id} was {job.status.value}")
    if _response_format(body) == "url":
        base = str(request.base_url).rstrip("/")
        data = [ImageData(url=base + image.url, revised_prompt=body.prompt) for image in job.images]
    else:
        data = [
            ImageData(b64_json=b64(png), revised_prompt=body.prompt)
            for png in await read_pngs(context, [job])
        ]
    return ImagesResponse(created=int(job.finished_at or time.time()), data=data)


def _installed_model(registry: ModelRegistry, name: str | None) -> str | None:
    """The named model when installed; otherwise None (the default model)."""
    if not name:
        return None
    try:
        return registry.get(name).id
    except (ModelNotFound, UnsafeName):
        logger.info(
            "images: model %r is not installed here; using %s", name, registry.default_model
        )
        return None


def _response_format(body: ImageGenerationRequest) -> str:
    if body.response_format is not None:
        return body.response_format
    return "b64_json" if (body.model or "").startswith("gpt-image") else "url"


# -------------------------------------------------------------------- models


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "novagenia"


class ModelListResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


def _model_object(model: ModelInfo) -> ModelObject:
    created = int(model.path.stat().st_mtime) if model.path.exists() else 0
    return ModelObject(id=model.id, created=created)


@router.get("/models", response_model=ModelListResponse)
async def list_models(context: Context, _: CompatReader) -> ModelListResponse:
    return ModelListResponse(data=[_model_object(model) for model in context.registry.list()])


@router.get("/models/{model_id:path}", response_model=ModelObject)
async def retrieve_model(model_id: str, context: Context, _: CompatReader) -> ModelObject:
    try:
        return _model_object(context.registry.get(model_id))
    except (ModelNotFound, UnsafeName):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"the model {model_id!r} does not exist"
        ) from None


@router.api_route(
    "/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def unsupported(path: str) -> None:
    """A JSON 404 in OpenAI's shape for the OpenAI routes we lack."""
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"/v1/{path} is not supported by NovaGenIA")
