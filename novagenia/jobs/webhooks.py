"""Webhooks: a job's events POSTed to the URL it names (`GenerationRequest.webhook`),
signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature`:
HMAC-SHA256 with the secret of the API key that submitted the job), kept in the board's
SQLite until delivered or given up on, retried with exponential backoff for
`webhook_retry_for_s`, and checked against server-side request forgery before each try.

The board writes a delivery in the same place it records the job's change
(`JobBoard._tell_webhook`); `WebhookSender` sends them from the board's event loop, so a
restarted board goes on with what was pending."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, Field
from standardwebhooks import Webhook as Signer

from novagenia.jobs.schemas import Job, JobStatus, WebhookEvent
from novagenia.jobs.webhook_policy import WebhookPolicy, WebhookRefused

if TYPE_CHECKING:
    from novagenia.jobs.store import JobStore

logger = logging.getLogger("novagenia.webhooks")

PROGRESS_INTERVAL_S = 0.5  # at most 2 progress deliveries a second per job
MAX_BACKOFF_S = 600.0
MAX_IN_FLIGHT = 16


class WebhookDelivery(BaseModel):
    """One event of a job for its webhook, as `GET /jobs/{id}/deliveries` shows it."""

    id: str = Field(description="`webhook-id`: the same on every try, for de-duplication.")
    job_id: str
    type: str = Field(description="job.queued, job.started, job.progress or job.completed")
    status: Literal["pending", "delivered", "failed"]
    attempts: int = 0
    created_at: float
    next_attempt_at: float | None = None
    delivered_at: float | None = None
    response_status: int | None = Field(None, description="HTTP status of the last try.")
    error: str | None = Field(None, description="Why the last try failed.")


@dataclass(frozen=True)
class Outgoing:
    """What the store keeps beside the public record to send a delivery."""

    record: WebhookDelivery
    url: str
    scope: str  # whose secret signs it
    payload: str


def event_of(status: JobStatus) -> WebhookEvent:
    """The webhook event of a job's state: every end (succeeded, failed, cancelled,
    expired) is `completed`; the job in the payload tells which."""
    if status is JobStatus.queued:
        return "queued"
    return "started" if status is JobStatus.running else "completed"


def new_delivery(job: Job, event: WebhookEvent, data: dict[str, Any]) -> Outgoing:
    now = time.time()
    kind = f"job.{event}"
    stamp = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat()
    payload = json.dumps({"type": kind, "timestamp": stamp, "data": data})
    record = WebhookDelivery(
        id=f"msg_{uuid.uuid4().hex}",
        job_id=job.id,
        type=kind,
        status="pending",
        created_at=now,
        next_attempt_at=now,
    )
    return Outgoing(record, job.request.webhook.url, job.owner or "", payload)


def signing_secret(master: bytes, scope: str) -> str:
    """The secret of one API key (`scope`, its label; "" on a server without keys),
    derived from the board's master secret, so nothing per key needs storing."""
    key = hmac.new(master, scope.encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(key).decode()


class WebhookSender:
    """Sends the store's due deliveries, up to `MAX_IN_FLIGHT` at once, waking when the
    board adds one (`wake`) or when a retry falls due."""

    def __init__(
        self, store: JobStore, policy: WebhookPolicy, retry_for_s: float, timeout_s: float
    ) -> None:
        self._store = store
        self._master = store.secret("webhooks")
        self.policy = policy
        self.retry_for_s = retry_for_s
        self.timeout_s = timeout_s
        # No proxies from the environment: the connection goes to the address checked.
        self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        self._in_flight: dict[str, asyncio.Task] = {}
        self._wake = asyncio.Event()

    def secret(self, scope: str) -> str:
        return signing_secret(self._master, scope)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                self._start_due()
                wait = self._store.next_delivery_at()
            except Exception:
                logger.exception("webhook sender failed; going on")
                wait = None
            timeout = 1.0 if wait is None else min(1.0, max(0.01, wait - time.time()))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _start_due(self) -> None:
        free = MAX_IN_FLIGHT - len(self._in_flight)
        for outgoing in self._store.due_deliveries(time.time(), MAX_IN_FLIGHT):
            if free <= 0:
                break
            if outgoing.record.id in self._in_flight:
                continue
            task = asyncio.get_running_loop().create_task(self._send(outgoing))
            self._in_flight[outgoing.record.id] = task
            task.add_done_callback(lambda _, i=outgoing.record.id: self._done(i))
            free -= 1

    def _done(self, delivery_id: str) -> None:
        self._in_flight.pop(delivery_id, None)
        self._wake.set()

    async def _send(self, outgoing: Outgoing) -> None:
        """One try; whatever goes wrong is recorded on the delivery, never left pending
        for an immediate retry."""
        record = outgoing.record.model_copy()
        record.attempts += 1
        try:
            ok = await self._try(outgoing, record)
        except WebhookRefused as exc:
            record.status, record.error, record.next_attempt_at = "failed", str(exc), None
            self._store.update_delivery(record)
            logger.warning("webhook %s of job %s refused: %s", record.id, record.job_id, exc)
            return
        except Exception as exc:  # unreachable host, bad answer, an unforeseen URL form
            ok, record.response_status = False, None
            record.error = f"{type(exc).__name__}: {exc}"[:300]
        now = time.time()
        if ok:
            record.status, record.delivered_at, record.next_attempt_at = "delivered", now, None
        else:
            delay = min(MAX_BACKOFF_S, 2.0 ** (record.attempts - 1))
            if now + delay > record.created_at + self.retry_for_s:
                record.status, record.next_attempt_at = "failed", None
            else:
                record.next_attempt_at = now + delay
        self._store.update_delivery(record)

    async def _try(self, outgoing: Outgoing, record: WebhookDelivery) -> bool:
        target = await asyncio.to_thread(self.policy.resolve, outgoing.url)
        sent_at = datetime.datetime.now(datetime.timezone.utc)
        signature = Signer(self.secret(outgoing.scope)).sign(record.id, sent_at, outgoing.payload)
        parts = urlsplit(outgoing.url)
        address = f"[{target.address}]" if ":" in target.address else target.address
        pinned = parts._replace(netloc=f"{address}:{target.port}").geturl()
        headers = {
            "host": parts.netloc,
            "content-type": "application/json",
            "webhook-id": record.id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature,
        }
        response = await self._client.post(
            pinned,
            content=outgoing.payload,
            headers=headers,
            timeout=self.timeout_s,
            extensions={"sni_hostname": target.host},  # TLS checks the name, not the IP
        )
        record.response_status = response.status_code
        record.error = None if response.is_success else f"answered {response.status_code}"
        return response.is_success
