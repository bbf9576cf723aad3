"""Per-submitter quotas, kept by the board so they hold across ingress replicas: most
jobs queued at once and most images a minute. The submitter is the API key that sent the
job (its label), or the request's `user` on a server without keys."""

from __future__ import annotations

import math
import time
from collections import deque

from pydantic import BaseModel, ConfigDict, Field

WINDOW_S = 60.0


class Quota(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_queued_jobs: int | None = Field(
        None, ge=1, description="Jobs one submitter may have queued at once (None: any)."
    )
    images_per_minute: int | None = Field(
        None, ge=1, description="Images one submitter may ask for in a minute (None: any)."
    )


class QuotaExceeded(RuntimeError):
    """A submit over its submitter's quota (HTTP 429, `Retry-After`); raised as
    `QuotaExceeded(message, seconds)`. The default constructor, so Ray can re-raise it
    from the board in the ingress with its class."""

    @property
    def retry_after_s(self) -> int:
        return max(1, math.ceil(self.args[1]))

    def __str__(self) -> str:
        return str(self.args[0])


def submitter(job_owner: str | None, user: str | None) -> str:
    """Whom quotas and queue turns count a job for: its API key, else its `user`."""
    return job_owner or user or ""


class ImageRate:
    """Images asked for per submitter over the last minute."""

    def __init__(self) -> None:
        self._asked: dict[str, deque[tuple[float, int]]] = {}

    def check(self, who: str, images: int, limit: int, now: float | None = None) -> None:
        """QuotaExceeded when `images` more would pass `limit` within a minute."""
        now = time.monotonic() if now is None else now
        asked = self._recent(who, now)
        total = sum(n for _, n in asked)
        if total + images <= limit:
            return
        if images > limit:
            raise QuotaExceeded(
                f"a job of {images} images is more than the {limit} a minute this key may ask for",
                WINDOW_S,
            )
        freed, wait = total + images - limit, WINDOW_S
        for at, n in asked:  # the oldest go first: wait until enough of them have
            freed -= n
            if freed <= 0:
                wait = at + WINDOW_S - now
                break
        raise QuotaExceeded(
            f"{total} images asked for in the last minute; this key may ask for {limit}",
            wait,
        )

    def note(self, who: str, images: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._asked.setdefault(who, deque()).append((now, images))

    def _recent(self, who: str, now: float) -> deque[tuple[float, int]]:
        asked = self._asked.get(who, deque())
        while asked and asked[0][0] <= now - WINDOW_S:
            asked.popleft()
        if not asked:
            self._asked.pop(who, None)
        return asked
