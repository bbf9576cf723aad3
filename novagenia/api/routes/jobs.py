"""`/jobs` and `/queue`: submit, read, cancel, reprioritise, history."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from novagenia.api.deps import Caller, Context
from novagenia.api.schemas import JobPage, QueueSummary
from novagenia.config import AppArgs
from novagenia.engine.samplers import get_sampler
from novagenia.jobs.schemas import MAX_SEED, GenerationRequest, Job, JobStatus, PriorityChange
from novagenia.loras.fit import fits
from novagenia.loras.library import LoraLibrary
from novagenia.loras.prompt import LoraSetError, resolve_lora_set
from novagenia.models import ModelNotFound, ModelRegistry
from novagenia.paths import UnsafeName

router = APIRouter(tags=["jobs"])


def invalid(field: str, message: str) -> HTTPException:
    """A 422 in FastAPI's own validation-error shape, for checks pydantic cannot make."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"loc": ["body", field], "msg": message, "type": "value_error"}],
    )


def resolve_request(
    request: GenerationRequest,
    registry: ModelRegistry,
    args: AppArgs,
    library: LoraLibrary,
) -> GenerationRequest:
    """Fills what the client left to the server (model, size, seed) and checks what only
    the server knows (installed models, samplers, configured limits, LoRAs in the
    library), so a job never fails later for it. `<lora:name:weight>` tags move from
    the prompt into `loras`."""
    for name, value, limit in (
        ("width", request.width, args.max_image_size),
        ("height", request.height, args.max_image_size),
        ("steps", request.steps, args.max_steps),
        ("batch_size", request.batch_size, args.max_images_per_job),
    ):
        if value is not None and value > limit:
            raise invalid(name, f"{name} must be at most {limit} on this server")
    model_id = request.model or registry.default_model
    try:
        model = registry.get(model_id)
    except (ModelNotFound, UnsafeName):
        raise invalid("model", f"unknown model {model_id!r}; see GET /api/v1/models") from None
    try:
        sampler = get_sampler(request.sampler)
    except ValueError as exc:
        raise invalid("sampler", str(exc)) from None
    if sampler.name not in model.samplers:
        offered = ", ".join(model.samplers)
        raise invalid(
            "sampler",
            f"sampler {sampler.name!r} ({sampler.label}) does not apply to model {model.id!r}; "
            f"it offers: {offered}",
        )
    try:
        prompt, loras = resolve_lora_set(request.prompt, request.loras, library)
    except LoraSetError as exc:
        raise invalid(exc.field, str(exc)) from None
    for lora in loras:
        if fits(library.weights_path(lora.name), model) is False:
            raise invalid(
                "loras",
                f"LoRA {lora.name!r} does not fit model {model.id!r}: its layers differ "
                "(trained for another architecture)",
            )
    return request.model_copy(
        update={
            "prompt": prompt,
            "loras": loras,
            "model": model.id,
            "width": request.width or model.native_size,
            "height": request.height or model.native_size,
            "seed": request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1),
        }
    )


@router.post("/jobs", status_code=status.HTTP_202_ACCEPTED, response_model=Job)
async def submit_job(body: GenerationRequest, context: Context, caller: Caller) -> Job:
    request = resolve_request(body, context.registry, context.args, context.loras)
    return await context.board.submit.remote(uuid.uuid4().hex, request, body.user or caller)


@router.get("/jobs/{job_id}", response_model=Job)
async def get_job(job_id: str, context: Context) -> Job:
    return await context.board.get.remote(job_id)


@router.get("/jobs", response_model=JobPage)
async def list_jobs(
    context: Context,
    status_filter: Annotated[JobStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> JobPage:
    jobs, next_cursor = await context.board.history.remote(
        status_filter, limit, int(cursor) if cursor else None
    )
    return JobPage(jobs=jobs, next_cursor=str(next_cursor) if next_cursor else None)


@router.delete("/jobs/{job_id}", response_model=Job)
async def cancel_job(job_id: str, context: Context, caller: Caller) -> Job:
    """A queued job is cancelled at once; a running one stops at its next step."""
    return await context.board.cancel.remote(job_id)


@router.patch("/jobs/{job_id}", response_model=Job)
async def reprioritize_job(
    job_id: str, change: PriorityChange, context: Context, caller: Caller
) -> Job:
    return await context.board.reprioritize.remote(job_id, change)


@router.get("/queue", response_model=QueueSummary)
async def get_queue(context: Context) -> QueueSummary:
    return QueueSummary.model_validate(await context.board.queue_summary.remote())
