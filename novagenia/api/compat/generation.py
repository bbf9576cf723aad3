"""What both compat layers share: building a `GenerationRequest` from foreign field
names, running jobs on the board to completion, and reading back their PNGs.

Compat requests block until their images exist (that is what A1111 and OpenAI clients
expect), but the work still goes through the JobBoard like any other job: it is queued
by priority, runs on whichever Diffusion replica claims it, shows in `/api/v1/queue` and
the PWA, and is cancelled when the client goes away.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi.exceptions import RequestValidationError
from PIL import Image
from pydantic import ValidationError

from novagenia.api.deps import AppContext
from novagenia.api.fanout import Subscription
from novagenia.jobs.board import JobNotFound, JobStateConflict
from novagenia.jobs.schemas import GenerationRequest, Job, JobStatus
from novagenia.submission import InvalidInput, resolve_request

logger = logging.getLogger("novagenia.compat")

WAIT_LIMIT_S = 3600.0
"""A blocking compat request gives up (504, its jobs cancelled) after this long."""

FINISHED_EVENTS = frozenset(s.value for s in JobStatus if s.finished)
"""Event types after which a job changes no more."""


class GenerationTimeout(Exception):
    """The jobs did not finish within WAIT_LIMIT_S (cancelled, unless the client holds an
    idempotency key to come back for them)."""


def build_request(fields: dict[str, Any], names: Mapping[str, str]) -> GenerationRequest:
    """A `GenerationRequest` from translated fields; a violation of its bounds becomes a
    422 whose `loc` names the client's own field (`names`: ours → theirs)."""
    try:
        return GenerationRequest.model_validate(fields)
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_url=False, include_context=False):
            loc = [names.get(str(part), part) for part in error["loc"]]
            errors.append({**error, "loc": ["body", *loc]})
        raise RequestValidationError(errors) from None


def resolve_foreign(
    fields: dict[str, Any], names: Mapping[str, str], context: AppContext
) -> GenerationRequest:
    """`build_request`, then the checks every API shares (`submission.resolve_request`),
    a refusal naming the client's own field (`names`: ours → theirs)."""
    request = build_request(fields, names)
    try:
        return resolve_request(
            request, context.registry, context.args, context.loras, context.inputs
        )
    except InvalidInput as exc:
        raise InvalidInput(names.get(exc.field, exc.field), exc.message) from None


def new_job_ids(prefix: str, count: int) -> list[str]:
    """`<prefix>-<request id>-<k>`: one id per job of one compat request, so any ingress
    replica can tell which API submitted a job and which jobs belong together."""
    request_id = uuid.uuid4().hex
    return [f"{prefix}-{request_id}-{k}" for k in range(count)]


def request_group(job_id: str) -> str:
    """The `<prefix>-<request id>` part of a compat job id."""
    return job_id.rsplit("-", 1)[0]


async def run_jobs(
    context: AppContext,
    job_ids: list[str],
    requests: list[GenerationRequest],
    user: str | None,
    owner: str | None,
    cancel_unfinished: bool = True,
) -> list[Job]:
    """Submits the jobs and returns them once all are finished (succeeded, failed or
    cancelled). If the wait limit passes, or the caller is cancelled (Serve cancels the
    handler when the HTTP client disconnects), the unfinished jobs are cancelled when
    `cancel_unfinished`, so no work is left behind for nobody (a client with an
    idempotency key comes back for them instead). Jobs that exist already (an
    idempotent retry) are not submitted again, and may be finished."""
    subscription = await context.fanout.subscribe(frozenset(job_ids))
    try:
        pending = set()
        for job_id, request in zip(job_ids, requests, strict=True):
            job = await context.board.submit.remote(job_id, request, user, owner)
            if not job.status.finished:
                pending.add(job_id)
        await asyncio.wait_for(_until_finished(subscription, pending), WAIT_LIMIT_S)
    except asyncio.TimeoutError:
        if cancel_unfinished:
            await cancel_jobs(context, job_ids)
        raise GenerationTimeout(f"the jobs did not finish within {WAIT_LIMIT_S:g} s") from None
    except BaseException:
        if cancel_unfinished:
            await cancel_jobs(context, job_ids)
        raise
    finally:
        context.fanout.unsubscribe(subscription)
    return list(await asyncio.gather(*(context.board.get.remote(i) for i in job_ids)))


async def _until_finished(subscription: Subscription, pending: set[str]) -> None:
    """Subscribed before the jobs were submitted, so no finishing event can be missed."""
    while pending:
        event = await subscription.queue.get()
        if event["type"] in FINISHED_EVENTS:
            pending.discard(event["job_id"])


async def cancel_jobs(context: AppContext, job_ids: list[str]) -> None:
    """Cancels those of the jobs that are not finished yet. Shielded: it completes even
    while the calling request's task is being cancelled."""

    async def cancel(job_id: str) -> None:
        # Not found: never submitted. Conflict: already finished.
        with contextlib.suppress(JobNotFound, JobStateConflict):
            await context.board.cancel.remote(job_id)

    try:
        await asyncio.shield(asyncio.gather(*(cancel(i) for i in job_ids)))
    except asyncio.CancelledError:
        pass
    except Exception:
        logger.exception("could not cancel jobs %s", job_ids)


async def read_pngs(context: AppContext, jobs: list[Job]) -> list[bytes]:
    """The PNG files of the succeeded jobs, in job order then image order."""

    def read() -> list[bytes]:
        return [
            context.store.read(job.id, image.index)
            for job in jobs
            if job.status is JobStatus.succeeded
            for image in job.images
        ]

    return await asyncio.to_thread(read)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def data_url(data: bytes) -> str:
    """Image bytes as the data URL a job's `init_image` takes (the format is sniffed)."""
    return f"data:image/png;base64,{b64(data)}"


def png_parameters(png: bytes) -> str:
    """The `parameters` text chunk (A1111 infotext) that the Diffusion replica embedded."""
    with Image.open(io.BytesIO(png)) as image:
        return str(image.info.get("parameters", ""))


def describe_ignored(fields: Mapping[str, Any]) -> str:
    """`name=value, …` for a log line about fields this server does not implement."""
    return ", ".join(f"{name}={value!r}"[:120] for name, value in sorted(fields.items()))
