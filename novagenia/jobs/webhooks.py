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
import ipaddress
import json
import logging
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, Field
from standardwebhooks import Webhook as Signer

from novagenia.jobs.schemas import Job, JobStatus, WebhookEvent

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
    if status is JobStatus.queued:
        return "queued"
    return "started" if status is JobStatus.running else "completed"


def new_delivery(job: Job, event: WebhookEvent, data: dict[str, Any]) -> Outgoing:
    now = time.time()
    kind = f"job.{event}"
    stamp = datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat()
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


class WebhookRefused(ValueError):
    """A webhook URL the server will not call."""


@dataclass(frozen=True)
class WebhookPolicy:
    """Where deliveries may go: http(s) only, to `hosts` when that allowlist is set, and
    never to loopback, private, link-local or other non-global addresses unless inside
    `private_networks`."""

    hosts: tuple[str, ...] = ()
    private_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def of(cls, hosts: Sequence[str], private_networks: Sequence[str]) -> WebhookPolicy:
        return cls(
            tuple(host.lower() for host in hosts),
            tuple(ipaddress.ip_network(net, strict=False) for net in private_networks),
        )

    def check_url(self, url: str) -> tuple[str, int]:
        """The URL's host and port, once its form, host and (literal) address pass."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookRefused("the webhook URL must be http:// or https:// with a host")
        if parts.username or parts.password:
            raise WebhookRefused("the webhook URL must not carry credentials")
        host = parts.hostname.lower()
        if self.hosts and not any(_host_matches(host, allowed) for allowed in self.hosts):
            raise WebhookRefused(f"webhook host {host!r} is not in the server's allowlist")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise WebhookRefused("the webhook URL's port is not a number") from None
        if host == "localhost" or host.endswith(".localhost"):
            self.check_address("127.0.0.1")
        elif (address := _literal_address(host)) is not None:
            self.check_address(address)
        return host, port

    def check_address(self, address: str) -> None:
        ip = ipaddress.ip_address(address)
        if any(ip in network for network in self.private_networks):
            return
        if not ip.is_global or ip.is_multicast:
            raise WebhookRefused(
                f"webhook address {ip} is loopback, private, link-local or reserved; the "
                "server calls such addresses only inside `webhook_private_networks`"
            )

    def check_resolved(self, url: str) -> None:
        """Every address the host resolves to passes (just before a try, so a name that
        later points inside the network is caught)."""
        host, port = self.check_url(url)
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(host, port)}
        except socket.gaierror as exc:
            raise WebhookRefused(f"webhook host {host!r} does not resolve: {exc}") from None
        for address in addresses:
            self.check_address(address.split("%")[0])


def _literal_address(host: str) -> str | None:
    """The address a host written as one stands for, in every form the resolver reads
    (`127.1`, `2130706433` and `0x7f.1` are 127.0.0.1 too), without asking DNS."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def _host_matches(host: str, allowed: str) -> bool:
    if allowed.startswith("*."):
        return host.endswith(allowed[1:])
    return host == allowed


class WebhookSender:
    """Sends the store's due deliveries, up to `MAX_IN_FLIGHT` at once, waking when the
    board adds one (`wake`) or when a retry falls due."""

    def __init__(self, store, policy: WebhookPolicy, retry_for_s: float, timeout_s: float) -> None:
        self._store = store
        self._master = store.secret("webhooks")
        self.policy = policy
        self.retry_for_s = retry_for_s
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self._in_flight: dict[str, asyncio.Task] = {}
        self._wake = asyncio.Event()

    def secret(self, scope: str) -> str:
        return signing_secret(self._master, scope)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            now = time.time()
            free = MAX_IN_FLIGHT - len(self._in_flight)
            for outgoing in self._store.due_deliveries(now, free + len(self._in_flight)):
                if free <= 0:
                    break
                if outgoing.record.id in self._in_flight:
                    continue
                task = asyncio.get_running_loop().create_task(self._send(outgoing))
                self._in_flight[outgoing.record.id] = task
                task.add_done_callback(lambda _, i=outgoing.record.id: self._done(i))
                free -= 1
            wait = self._store.next_delivery_at()
            timeout = 1.0 if wait is None else min(1.0, max(0.01, wait - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _done(self, delivery_id: str) -> None:
        self._in_flight.pop(delivery_id, None)
        self._wake.set()

    async def _send(self, outgoing: Outgoing) -> None:
        record = outgoing.record.model_copy()
        record.attempts += 1
        try:
            await asyncio.to_thread(self.policy.check_resolved, outgoing.url)
        except WebhookRefused as exc:
            record.status, record.error, record.next_attempt_at = "failed", str(exc), None
            self._store.update_delivery(record)
            logger.warning("webhook %s of job %s refused: %s", record.id, record.job_id, exc)
            return
        sent_at = datetime.datetime.now(datetime.UTC)
        signature = Signer(self.secret(outgoing.scope)).sign(record.id, sent_at, outgoing.payload)
        headers = {
            "content-type": "application/json",
            "webhook-id": record.id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature,
        }
        try:
            response = await self._client.post(
                outgoing.url, content=outgoing.payload, headers=headers
            )
            record.response_status, record.error = response.status_code, None
            ok = response.is_success
            if not ok:
                record.error = f"answered {response.status_code}"
        except httpx.HTTPError as exc:
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
