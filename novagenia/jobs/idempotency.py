"""Idempotent submission (`Idempotency-Key`, as Stripe and the IETF draft use it): a
client that retries a submit after a lost answer gets the job of its first attempt
instead of a second one. The board keeps each key with the fingerprint of the request it
came with and the job ids it names, in SQLite beside the jobs, so it holds across
restarts and for every ingress replica; keys expire after `idempotency_window_s`."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel

KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # printable ASCII, no spaces (as HTTP tokens)


class IdempotencyKey(BaseModel):
    """A client's key, scoped to who sent it (two API keys never share keys), with the
    fingerprint of the request it came with."""

    scope: str
    key: str
    fingerprint: str

    @classmethod
    def of(cls, key: str, caller: str | None, route: str, request: Any) -> IdempotencyKey:
        """`request`: the client's request as sent (JSON-able), before the server fills
        anything in (a random seed would make every retry look different)."""
        canonical = json.dumps([route, request], sort_keys=True, separators=(",", ":"))
        return cls(
            scope=caller or "",
            key=key,
            fingerprint=hashlib.sha256(canonical.encode()).hexdigest(),
        )
