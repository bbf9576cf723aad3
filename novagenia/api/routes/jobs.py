"""`/jobs` and `/queue`: submit, read, cancel, reprioritise, history."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from novagenia.api.deps import Caller, Context
from novagenia.api.idempotent import SafeRetry, job_ids_for
from novagenia.api.schemas import DeliveryList, JobPage, QueueSummary, WebhookSecret
from novagenia.jobs.schemas import GenerationRequest, Job, JobStatus, PriorityChange
from novagenia.submission import resolve_request

router = APIRouter(tags=["jobs"])


@router.post(
    "/jobs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Job,
    responses={409: {"description": "The Idempotency-Key came with another request."}},
)
async def submit_job(
    body: GenerationRequest,
    context: Context,
    caller: Caller,
    retry: SafeRetry,
) -> Job:
    request = resolve_request(body, context.registry, context.args, context.loras, context.inputs)
    sent = body.model_dump(mode="json", exclude_unset=True)
    [job_id] = await job_ids_for(context, retry, caller, sent, [uuid.uuid4().hex])
    return await context.board.submit.remote(job_id, request, body.user or caller, caller)


@router.get("/jobs/{job_id}", response_model=Job)
async def get_job(job_id: str, context: Context) -> Job:
    return await context.board.get.remote(job_id)


@router.get("/jobs/{job_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(job_id: str, context: Context) -> DeliveryList:
    """The job's webhook deliveries: each event, its tries and the receiver's answer."""
    return DeliveryList(deliveries=await context.board.deliveries.remote(job_id))


@router.get("/webhooks/secret", response_model=WebhookSecret)
async def webhook_secret(context: Context, caller: Caller) -> WebhookSecret:
    """The secret that signs the webhooks of jobs submitted with this request's API key
    (one for everybody on a server without keys)."""
    return WebhookSecret(secret=await context.board.webhook_secret.remote(caller or ""))


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
