"""`Idempotency-Key` on the routes that submit jobs (logic: `novagenia.jobs.idempotency`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response

from novagenia.api.deps import AppContext
from novagenia.jobs.idempotency import KEY_PATTERN, IdempotencyKey

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="Makes the submit safe to retry: the same key with the same request "
        "returns the job of the first (answered with `Idempotent-Replayed: true`), the same "
        "key with another request is a 409. Keys are per API key, kept "
        "`idempotency_window_s` (a day by default); 1-255 printable ASCII characters.",
    ),
]


@dataclass(frozen=True)
class Retry:
    """What makes a submit safe to retry: its route and key, and the response that
    tells the client a replay."""

    route: str
    key: str | None
    response: Response


def retry_of(
    request: Request, response: Response, idempotency_key: IdempotencyKeyHeader = None
) -> Retry:
    return Retry(request.url.path, idempotency_key, response)


SafeRetry = Annotated[Retry, Depends(retry_of)]


async def job_ids_for(
    context: AppContext, retry: Retry, caller: str | None, sent: Any, job_ids: list[str]
) -> list[str]:
    """The ids a new request's jobs get: `job_ids`, or with a key the ids it stands for
    (those of its first request, answered with `Idempotent-Replayed: true`). `sent` is
    the client's request as sent, JSON-able."""
    if retry.key is None:
        return job_ids
    reserved = await context.board.reserve_job_ids.remote(
        IdempotencyKey.of(retry.key, caller, retry.route, sent), job_ids
    )
    if reserved != job_ids:
        retry.response.headers["Idempotent-Replayed"] = "true"
    return reserved
