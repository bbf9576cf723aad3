"""The JobBoard as one named, async, restartable Ray actor, plus ticket dispatch.

Tickets (docs/architecture.md): for every queued job, one request "run the best job you can for
model M" goes to the Diffusion deployment with `multiplexed_model_id=M`. The board sends
them itself, so it always knows how many are outstanding: whatever dies (a replica, an
ingress, the board), a queued job without a pending ticket gets a new one here.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from typing import Any

import psutil
import ray
from ray import serve
from ray.serve.handle import DeploymentHandle

from novagenia.config import AppArgs
from novagenia.detached import detached_actor
from novagenia.jobs.board import JobBoard
from novagenia.jobs.event_log import Event
from novagenia.jobs.idempotency import IdempotencyKey
from novagenia.jobs.protocol import ClaimRequest, Completion, WorkerReport
from novagenia.jobs.schemas import GenerationRequest, Job, JobStatus, PriorityChange
from novagenia.jobs.store import JobStore
from novagenia.jobs.webhooks import WebhookDelivery, WebhookSender
from novagenia.logs import configure_logging
from novagenia.monitoring import BoardMetrics
from novagenia.outputs import OutputStore
from novagenia.priority import lower_cpu_priority

logger = logging.getLogger("novagenia.board")

DIFFUSION_DEPLOYMENT = "Diffusion"
HOUSEKEEPING_INTERVAL_S = 1.0
LOADED_TTL_S = 90.0  # replicas report their loaded models every 30 s


class JobBoardActor:
    """Remote face of `JobBoard`. Every method that changes state returns only after
    SQLite has committed the change."""

    def __init__(self, args: dict[str, Any]) -> None:
        configure_logging()
        self.args = AppArgs.model_validate(args)
        lower_cpu_priority(self.args.bookkeeping_nice)
        store = JobStore(self.args.db_path)
        self.board = JobBoard(
            store,
            max_queue_length=self.args.max_queue_length,
            max_attempts=self.args.max_attempts,
            lease_timeout_s=self.args.lease_timeout_s,
            event_capacity=self.args.event_log_capacity,
            idempotency_window_s=self.args.idempotency_window_s,
        )
        self.board.quota, self.board.quota_by_user = self.args.quota, self.args.quota_by_user
        self.webhooks = WebhookSender(
            store,
            self.args.webhook_policy,
            self.args.webhook_retry_for_s,
            self.args.webhook_timeout_s,
        )
        self.board.on_delivery = self.webhooks.wake
        self._pending_tickets: dict[str, set[str]] = defaultdict(set)
        self._claims: dict[str, tuple[str, list[str]]] = {}  # ticket → (worker, job ids)
        self._ticket_tasks: set[asyncio.Task] = set()
        self._diffusion = None
        self._housekeeping: asyncio.Task | None = None
        self._sending: asyncio.Task | None = None  # WebhookSender.run
        self._next_sweep = 0.0  # of idempotency keys and jobs past their retention
        self._metrics = BoardMetrics(self.board)
        self._loaded: dict[str, tuple[list[str], float]] = {}  # worker → (models, seen at)
        self._ensure_housekeeping()

    async def ready(
        self, args: dict[str, Any] | None = None, diffusion: DeploymentHandle | None = None
    ) -> bool:
        """Starts housekeeping. An ingress passes the current args (the board outlives
        `serve shutdown`, so a redeploy may change its limits) and the app's Diffusion
        handle (after a restart, until then, tickets find the deployment by name)."""
        if args is not None:
            self.args = AppArgs.model_validate(args)
            self.board.max_queue_length = self.args.max_queue_length
            self.board.max_attempts = self.args.max_attempts
            self.board.lease_timeout_s = self.args.lease_timeout_s
            self.board.idempotency_window_s = self.args.idempotency_window_s
            self.board.quota, self.board.quota_by_user = self.args.quota, self.args.quota_by_user
            self.webhooks.policy = self.args.webhook_policy
            self.webhooks.retry_for_s = self.args.webhook_retry_for_s
            self.webhooks.timeout_s = self.args.webhook_timeout_s
        if diffusion is not None:
            self._diffusion = diffusion
        self._ensure_housekeeping()
        return True

    def _ensure_housekeeping(self) -> None:
        """Started with the actor (an async actor's `__init__` runs on its event loop in
        Ray 2.60), so a restarted board resumes expiring leases and sending webhooks by
        itself; later calls start the webhook sender again should it ever have died."""
        loop = asyncio.get_running_loop()
        if self._housekeeping is None:
            self._housekeeping = loop.create_task(self._housekeep())
        if self._sending is None or self._sending.done():  # run() never ends but by a bug
            self._sending = loop.create_task(self.webhooks.run())

    # reads
    async def get(self, job_id: str) -> Job:
        return self.board.get(job_id)

    async def history(self, status: JobStatus | None, limit: int, cursor: int | None):
        return self.board.history(status, limit, cursor)

    async def queue_summary(self) -> dict[str, Any]:
        return self.board.queue_summary()

    async def queue_depths(self) -> dict[str, int]:
        """The cheap view for monitoring: counts only, however long the queue."""
        return self.board.queue_depths()

    async def events_after(self, cursor: int | None, job_ids: frozenset[str] | None) -> list[Event]:
        """What a (re)connecting subscriber must see first: the missed events when its
        cursor is still covered, else a snapshot of its jobs' current state."""
        if cursor is not None and self.board.events.covers(cursor):
            return self.board.events.after(cursor, job_ids)
        return self.board.snapshot(job_ids)

    async def wait_events(self, cursor: int, timeout: float = 15.0) -> tuple[list[Event], bool]:
        """Long poll for the ingress fan-out. The flag is True when events after `cursor`
        were lost (board restarted, or compacted): subscribers then need a snapshot."""
        self._ensure_housekeeping()
        gap = not self.board.events.covers(cursor)
        return await self.board.events.wait_after(cursor, timeout), gap

    async def stats(self) -> dict[str, int]:
        """Sizes that must stay bounded under load, and this process's memory."""
        return {
            "active_jobs": self.board.active_count(),
            "queued_jobs": self.board.queued_count(),
            "events_retained": len(self.board.events),
            "rss_bytes": psutil.Process().memory_info().rss,
        }

    async def deliveries(self, job_id: str) -> list[WebhookDelivery]:
        return self.board.deliveries(job_id)

    async def webhook_secret(self, scope: str) -> str:
        """The secret that signs the webhooks of jobs submitted with API key `scope`."""
        return self.webhooks.secret(scope)

    async def last_cursor(self) -> int:
        return self.board.events.last_cursor

    async def publish(self, event_type: str, payload: dict[str, Any]) -> None:
        """An event that belongs to no job (a Model Hub download): it reaches the
        WebSocket subscribers that follow every job."""
        self.board.events.append(event_type, "", **payload)

    async def models_loaded(self, worker: str, models: list[str]) -> None:
        """A Diffusion replica's loaded models, reported on every load and periodically."""
        self._loaded[worker] = (models, time.monotonic())

    async def loaded_on(self) -> dict[str, list[str]]:
        """Model id → replicas holding it, from reports younger than `LOADED_TTL_S`
        (a replica that stopped reporting is gone)."""
        horizon = time.monotonic() - LOADED_TTL_S
        self._loaded = {w: seen for w, seen in self._loaded.items() if seen[1] >= horizon}
        where: dict[str, list[str]] = defaultdict(list)
        for worker, (models, _) in sorted(self._loaded.items()):
            for model in models:
                where[model].append(worker)
        return dict(where)

    # writes
    async def submit(
        self, job_id: str, request: GenerationRequest, user: str | None, owner: str | None = None
    ) -> Job:
        self._ensure_housekeeping()
        job = self.board.submit(job_id, request, user, owner)
        self._dispatch_tickets(job.model)
        return job

    async def reserve_job_ids(self, key: IdempotencyKey, job_ids: list[str]) -> list[str]:
        return self.board.reserve_job_ids(key, job_ids)

    async def begin_model_removal(self, model: str) -> None:
        self.board.begin_model_removal(model)

    async def end_model_removal(self, model: str) -> None:
        self.board.end_model_removal(model)

    async def cancel(self, job_id: str) -> Job:
        return self.board.cancel(job_id)

    async def reprioritize(self, job_id: str, change: PriorityChange) -> Job:
        return self.board.reprioritize(job_id, change)

    # worker side
    async def claim(self, claim: ClaimRequest) -> list[Job]:
        self._ensure_housekeeping()
        self._pending_tickets[claim.model].discard(claim.ticket_id)
        wait = self.args.batch_wait_s
        queued = self.board.queued_count(claim.model)
        if wait > 0 and 1 < queued < claim.max_jobs:
            await asyncio.sleep(wait)  # under load, let compatible jobs fill the batch
        jobs = self.board.claim(
            claim.model, claim.worker, claim.max_jobs, claim.max_images, claim.max_pixels
        )
        if jobs:
            self._claims[claim.ticket_id] = (claim.worker, [job.id for job in jobs])
        return jobs

    async def report(self, worker: str, reports: list[WorkerReport]) -> list[str]:
        return self.board.report(worker, reports)

    async def heartbeat(self, worker: str, job_ids: list[str]) -> list[str]:
        return self.board.heartbeat(worker, set(job_ids))

    async def complete(self, completion: Completion) -> None:
        self.board.complete(completion)

    async def requeue(self, job_id: str, worker: str, reason: str) -> None:
        job = self.board.requeue(job_id, worker, reason)
        if job is not None:
            self._dispatch_tickets(job.model)

    # tickets
    def _dispatch_tickets(self, model: str) -> None:
        """Tops up pending tickets for `model` to its queued count (capped, so 10,000
        queued jobs do not become 10,000 in-flight requests; the cap still exceeds what
        the autoscaler needs to reach `max_replicas`)."""
        cap = (
            int(self.args.autoscaling.max_replicas * self.args.autoscaling.target_ongoing_requests)
            * 2
            + 2
        )
        pending = self._pending_tickets[model]
        while len(pending) < min(self.board.queued_count(model), cap):
            ticket_id = uuid.uuid4().hex
            pending.add(ticket_id)
            task = asyncio.get_running_loop().create_task(self._send_ticket(model, ticket_id))
            self._ticket_tasks.add(task)
            task.add_done_callback(self._ticket_tasks.discard)

    async def _send_ticket(self, model: str, ticket_id: str) -> None:
        try:
            if self._diffusion is None:
                self._diffusion = serve.get_deployment_handle(
                    DIFFUSION_DEPLOYMENT, self.args.app_name
                )
            await self._diffusion.options(multiplexed_model_id=model).run_ticket.remote(ticket_id)
        except Exception as exc:  # a dead replica, an app not yet deployed, a restart
            logger.warning("ticket for %s failed (%s); will be reissued", model, exc)
            self._requeue_claimed(ticket_id, f"its replica failed ({type(exc).__name__})")
            await asyncio.sleep(1.0)
        finally:
            self._pending_tickets[model].discard(ticket_id)
            self._claims.pop(ticket_id, None)
        self._dispatch_tickets(model)

    def _requeue_claimed(self, ticket_id: str, reason: str) -> None:
        """A ticket whose request failed took its replica down with it (or never reached
        one): its jobs come back now instead of after their lease expires."""
        worker, job_ids = self._claims.get(ticket_id, (None, []))
        for job_id in job_ids:
            job = self.board.requeue(job_id, worker, reason)
            if job is not None:
                logger.warning("job %s requeued: %s", job_id, reason)

    async def _housekeep(self) -> None:
        """Expires leases of silent workers and reissues tickets that were lost."""
        while True:
            try:
                for job in self.board.expire_leases():
                    logger.warning("job %s: lease expired, now %s", job.id, job.status.value)
                for job in self.board.expire_overdue():
                    logger.info("job %s: %s", job.id, job.error)
                for model in self.board.queued_models():
                    self._dispatch_tickets(model)
                if time.monotonic() >= self._next_sweep:
                    self._next_sweep = time.monotonic() + self.args.retention_sweep_s
                    self.board.forget_idempotency_keys()
                    await self._delete_outlived_jobs()
                self._metrics.publish()
            except Exception:
                logger.exception("board housekeeping failed")
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)

    async def _delete_outlived_jobs(self) -> None:
        """Pictures first, then records: a sweep cut short is finished by the next one."""
        job_ids = self.board.outlived_retention(
            self.args.job_retention_s, self.args.job_retention_by_user
        )
        if not job_ids:
            return
        outputs = OutputStore(self.args.resolved_output_uri)
        for job_id in job_ids:
            await asyncio.to_thread(outputs.delete, job_id)
        self.board.forget(job_ids)
        logger.info("deleted %d jobs past their retention", len(job_ids))


def get_board(args: AppArgs) -> ray.actor.ActorHandle:
    """The app's board: created on first use, pinned to the head node (its SQLite file
    lives there), restarted by Ray when it dies; callers' calls are retried meanwhile.
    Callers await `board.ready.remote()` before relying on it."""
    return detached_actor(
        JobBoardActor,
        args.board_name,
        args.model_dump(mode="json"),
        max_task_retries=-1,
        max_concurrency=10_000,
    )
