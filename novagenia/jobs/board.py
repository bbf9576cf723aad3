"""JobBoard: the single source of truth for jobs (docs/architecture.md).

This module is the board's logic, free of Ray so it can be unit tested directly;
`jobs/actor.py` hosts it in one named async Ray actor and adds ticket dispatch.

Run order within a model: higher `priority` first; within one priority, users take
turns (round robin, so one user's burst cannot starve another's single job); then
submission order. `front` moves a job ahead of everything queued for its model at that
moment (a job queued later at a higher priority still goes first); its priority stays.
A batch takes compatible jobs in that order and may pass incompatible ones of the same
level, never one of a higher level (a batch must not overtake a higher-priority job).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sortedcontainers import SortedList

from novagenia.jobs.event_log import Event, EventLog
from novagenia.jobs.idempotency import IdempotencyKey
from novagenia.jobs.protocol import Completion, ProgressReport, WorkerReport
from novagenia.jobs.quotas import ImageRate, Quota, QuotaExceeded, submitter
from novagenia.jobs.run_order import QueueKey, UserTurns, pick_batch
from novagenia.jobs.schemas import (
    FrontMove,
    GenerationRequest,
    ImageInfo,
    Job,
    JobStatus,
    PriorityChange,
    Progress,
    WebhookEvent,
)
from novagenia.jobs.store import JobStore
from novagenia.jobs.webhooks import (
    PROGRESS_INTERVAL_S,
    WebhookDelivery,
    event_of,
    new_delivery,
)


class JobNotFound(LookupError):
    """No job has this id."""


class JobStateConflict(RuntimeError):
    """The job is not in a state that allows the operation (HTTP 409)."""


class IdempotencyConflict(JobStateConflict):
    """An `Idempotency-Key` sent again with another request (HTTP 409)."""


QUEUED_RETRY_S = 5  # Retry-After when a submitter's queue is full


class QueueFull(RuntimeError):
    """The queue holds `max_queue_length` jobs already (HTTP 503)."""


class JobBoard:
    def __init__(
        self,
        store: JobStore,
        *,
        max_queue_length: int = 1000,
        max_attempts: int = 3,
        lease_timeout_s: float = 60.0,
        event_capacity: int = 20_000,
        idempotency_window_s: float = 86_400.0,
    ) -> None:
        self._store = store
        self.max_queue_length = max_queue_length
        self.idempotency_window_s = idempotency_window_s
        self.max_attempts = max_attempts
        self.lease_timeout_s = lease_timeout_s
        self.events = EventLog(event_capacity)
        self._active: dict[str, Job] = {}
        self._seq: dict[str, int] = {}
        self._queues: dict[str, SortedList] = defaultdict(SortedList)
        self._keys: dict[str, QueueKey] = {}
        self._turns: dict[tuple[str, int], UserTurns] = defaultdict(UserTurns)
        self._leases: dict[str, float] = {}
        self._removing: set[str] = set()  # models being deleted: no new jobs for them
        self.quota, self.quota_by_user = Quota(), dict[str, Quota]()  # set by the actor
        self._image_rate = ImageRate()
        self._deadlines: dict[str, float] = {}  # job → its cancel_after as Unix time
        self._progress_told: dict[str, float] = {}  # job → last progress webhook (monotonic)
        self.on_delivery: Callable[[], None] = lambda: None  # a webhook delivery was added
        self._reload()

    # ----------------------------------------------------------------- reads

    def get(self, job_id: str) -> Job:
        job = self._active.get(job_id)
        if job is not None:
            return self._with_position(job)
        found = self._store.get(job_id)
        if found is None:
            raise JobNotFound(job_id)
        return found[1]

    def history(
        self, status: JobStatus | None, limit: int, cursor: int | None
    ) -> tuple[list[Job], int | None]:
        rows = self._store.history(status, limit, cursor)
        jobs = [self._with_position(self._active.get(job.id, job)) for _, job in rows]
        next_cursor = rows[-1][0] if len(rows) == limit else None
        return jobs, next_cursor

    def queued_count(self, model: str | None = None) -> int:
        if model is not None:
            return len(self._queues.get(model, ()))
        return sum(len(queue) for queue in self._queues.values())

    def queue_depths(self) -> dict[str, int]:
        """Queued jobs per model with any active job (0 where all of them run)."""
        depths = {job.model: 0 for job in self._active.values()}
        depths.update({model: len(queue) for model, queue in self._queues.items() if queue})
        return depths

    def active_count(self) -> int:
        return len(self._active)

    def queued_models(self) -> list[str]:
        return [model for model, queue in self._queues.items() if queue]

    def running(self) -> list[Job]:
        return [job for job in self._active.values() if job.status is JobStatus.running]

    def queue_summary(self) -> dict[str, Any]:
        """Counts by status and model, and queued jobs in run order (per model, merged)."""
        keyed = sorted((key, model) for model, queue in self._queues.items() for key in queue)
        queued = [self._with_position(self._active[key[3]]) for key, _ in keyed]
        models: dict[str, dict[str, int]] = defaultdict(lambda: {"queued": 0, "running": 0})
        for job in self._active.values():
            models[job.model][job.status.value] += 1
        return {
            "counts": self._store.counts(),
            "models": dict(models),
            "queued": queued,
            "running": self.running(),
        }

    def snapshot(self, job_ids: frozenset[str] | None) -> list[Event]:
        """Current state of the given jobs (or of all active ones) as events."""
        if job_ids is None:
            jobs = [self._with_position(job) for job in self._active.values()]
        else:
            jobs = []
            for job_id in job_ids:
                try:
                    jobs.append(self.get(job_id))
                except JobNotFound:
                    continue
        cursor = self.events.last_cursor
        return [
            {
                "type": _state_event_type(job.status),
                "job_id": job.id,
                "cursor": cursor,
                "ts": time.time(),
                "snapshot": True,
                "job": job.model_dump(mode="json"),
            }
            for job in jobs
        ]

    # ---------------------------------------------------------------- writes

    def submit(
        self, job_id: str, request: GenerationRequest, user: str | None, owner: str | None = None
    ) -> Job:
        """Queues a job. Idempotent on `job_id`, so a retried call never duplicates.
        `owner`: the API key's label (it signs the job's webhooks)."""
        if job_id in self._active:
            return self.get(job_id)
        if self._store.get(job_id) is not None:
            return self.get(job_id)
        if self.queued_count() >= self.max_queue_length:
            raise QueueFull(f"the queue is full ({self.max_queue_length} jobs)")
        if request.model is None:
            raise ValueError("a job's request names its model (see submission.resolve_request)")
        if request.model in self._removing:
            raise JobStateConflict(f"model {request.model} is being deleted")
        who = submitter(owner, user)
        self._check_quota(who, request)
        job = Job(
            id=job_id,
            status=JobStatus.queued,
            request=request,
            model=request.model,
            priority=request.priority,
            user=user,
            owner=owner,
            created_at=time.time(),
        )
        self._seq[job.id] = self._store.insert(job)
        self._image_rate.note(who, request.batch_size)
        self._active[job.id] = job
        if job.deadline is not None:
            self._deadlines[job.id] = job.deadline
        self._enqueue(job)
        job = self._with_position(job)
        self._emit_state(job)
        return job

    def _check_quota(self, who: str, request: GenerationRequest) -> None:
        quota = self.quota_by_user.get(who, self.quota)
        if quota.max_queued_jobs is not None:
            queued = sum(
                1
                for job in self._active.values()
                if job.status is JobStatus.queued and submitter(job.owner, job.user) == who
            )
            if queued >= quota.max_queued_jobs:
                raise QuotaExceeded(
                    f"{queued} jobs queued already; this key may have {quota.max_queued_jobs} "
                    "queued at once",
                    QUEUED_RETRY_S,
                )
        if quota.images_per_minute is not None:
            self._image_rate.check(who, request.batch_size, quota.images_per_minute)

    def reserve_job_ids(self, key: IdempotencyKey, job_ids: list[str]) -> list[str]:
        """The job ids a client's `Idempotency-Key` stands for: those of the request it
        first came with while it is kept (`idempotency_window_s`), else `job_ids`, kept
        from now on. Submitting is idempotent on the job id, so a request that dies
        between this and its submit is completed by the client's retry."""
        now = time.time()
        kept = self._store.idempotency_record(key.scope, key.key)
        if kept is not None and kept[2] >= now - self.idempotency_window_s:
            fingerprint, kept_ids, _ = kept
            if fingerprint != key.fingerprint:
                raise IdempotencyConflict(
                    f"Idempotency-Key {key.key!r} came before with another request (job "
                    f"{kept_ids[0]}); a new request needs a new key"
                )
            return kept_ids
        self._store.keep_idempotency_key(key.scope, key.key, key.fingerprint, job_ids, now)
        return job_ids

    def forget_idempotency_keys(self) -> int:
        """Drops the keys older than the window (housekeeping)."""
        return self._store.forget_idempotency_keys(time.time() - self.idempotency_window_s)

    def begin_model_removal(self, model: str) -> None:
        """Reserves a model for deletion: refused (JobStateConflict) while jobs for it are
        queued or running, and from now on no job for it is accepted. Check and reserve
        are one step here, so no job slips in between (the board is the one writer)."""
        queued = len(self._queues.get(model, ()))
        running = sum(1 for job in self.running() if job.model == model)
        if queued or running:
            raise JobStateConflict(
                f"{model} has {queued} queued and {running} running jobs; cancel them or wait"
            )
        self._removing.add(model)

    def end_model_removal(self, model: str) -> None:
        self._removing.discard(model)

    def cancel(self, job_id: str) -> Job:
        job = self._active_job(job_id)
        if job.status is JobStatus.queued:
            self._dequeue(job)
            return self._finish(job, JobStatus.cancelled)
        job.cancel_requested = True
        self._store.update(job)
        return job

    def reprioritize(self, job_id: str, change: PriorityChange) -> Job:
        """A new priority re-queues the job at that level; `front` moves it ahead of every
        job queued for its model now, without touching its priority."""
        job = self._active_job(job_id)
        if job.status is not JobStatus.queued:
            raise JobStateConflict(f"job {job_id} is {job.status.value}; only queued jobs move")
        self._dequeue(job)
        queue = self._queues[job.model]
        if change.priority is not None:
            job.priority = change.priority
            job.moved_to_front = None
        if change.front:
            top = -queue[0][0] if queue else job.priority
            job.moved_to_front = FrontMove(level=max(job.priority, top), at=time.time())
        self._store.update(job)
        self._enqueue(job)
        job = self._with_position(job)
        self._emit_state(job, changed=False)  # moved, still queued
        return job

    def claim(
        self,
        model: str,
        worker: str,
        max_jobs: int = 1,
        max_images: int | None = None,
        max_pixels: int | None = None,
    ) -> list[Job]:
        """Hands the best queued job for `model` (plus compatible ones, up to `max_jobs`
        jobs, `max_images` images and `max_pixels` image pixels) to `worker`; they are
        running from now on, under a lease the worker renews. Jobs past their
        `cancel_after` expire first instead of starting."""
        self.expire_overdue()
        queue = self._queues.get(model)
        if not queue:
            return []
        queued = ((key, self._active[key[3]]) for key in queue)
        batch = pick_batch(queued, max_jobs, max_images, max_pixels)
        now = time.time()
        for job in batch:
            self._dequeue(job, served=True)
            job.status = JobStatus.running
            job.started_at = now
            job.worker = worker
            job.attempts += 1
            job.progress = Progress(step=0, total_steps=job.request.total_steps)
            self._leases[job.id] = time.monotonic() + self.lease_timeout_s
        self._store.update_many(batch)
        for job in batch:
            self._emit_state(job)
        return [job.model_copy() for job in batch]

    def report(self, worker: str, reports: list[WorkerReport]) -> list[str]:
        """Progress and previews from a worker. Renews its leases and returns the ids of
        its jobs that must stop (cancelled, or no longer its own)."""
        reported: set[str] = set()
        for report in reports:
            if isinstance(report, ProgressReport):
                job_ids = report.job_ids
                payload = report.model_dump(exclude={"job_ids", "type"})
            else:
                job_ids = [report.job_id]
                payload = report.model_dump(exclude={"job_id", "type"})
            reported.update(job_ids)
            for job_id in job_ids:
                job = self._active.get(job_id)
                if job is None or job.worker != worker or job.status is not JobStatus.running:
                    continue
                if isinstance(report, ProgressReport):
                    job.progress = Progress(**payload)
                    self._tell_progress(job, payload)
                self.events.append(report.type, job.id, **payload)
        return self.heartbeat(worker, reported)

    def complete(self, completion: Completion) -> Job | None:
        """A replica's word on how a job ended (None: not its job any more)."""
        if completion.outcome == "succeeded":
            return self.succeed(completion.job_id, completion.worker, completion.images)
        if completion.outcome == "failed":
            return self.fail(completion.job_id, completion.worker, completion.error or "failed")
        return self.cancelled(completion.job_id, completion.worker)

    def heartbeat(self, worker: str, job_ids: set[str]) -> list[str]:
        deadline = time.monotonic() + self.lease_timeout_s
        stop = []
        for job_id in job_ids:
            job = self._active.get(job_id)
            if job is None or job.worker != worker or job.status is not JobStatus.running:
                stop.append(job_id)
                continue
            self._leases[job_id] = deadline
            if job.cancel_requested:
                stop.append(job_id)
        return stop

    def succeed(self, job_id: str, worker: str, images: list[ImageInfo]) -> Job | None:
        job = self._owned(job_id, worker)
        if job is None:
            return None
        job.images = images
        if job.progress is not None:
            job.progress.step = job.progress.total_steps
            job.progress.eta_s = 0.0
        return self._finish(job, JobStatus.succeeded)

    def fail(self, job_id: str, worker: str, error: str) -> Job | None:
        job = self._owned(job_id, worker)
        if job is None:
            return None
        job.error = error
        return self._finish(job, JobStatus.failed)

    def cancelled(self, job_id: str, worker: str) -> Job | None:
        job = self._owned(job_id, worker)
        return None if job is None else self._finish(job, JobStatus.cancelled)

    def requeue(self, job_id: str, worker: str, reason: str) -> Job | None:
        """A worker gives a job back (e.g. it is shutting down). Counts as an attempt."""
        job = self._owned(job_id, worker)
        return None if job is None else self._retry_or_fail(job, reason)

    def expire_overdue(self) -> list[Job]:
        """Jobs past their `cancel_after`: a queued one ends `expired`, a running one is
        asked to stop (its replica stops at the next step and reports it cancelled)."""
        now, ended = time.time(), []
        for job_id, deadline in list(self._deadlines.items()):
            job = self._active.get(job_id)
            if job is None:
                del self._deadlines[job_id]
            elif deadline <= now and job.status is JobStatus.queued:
                self._dequeue(job)
                job.error = f"not started within its cancel_after ({job.request.cancel_after:g} s)"
                ended.append(self._finish(job, JobStatus.expired))
            elif deadline <= now and not job.cancel_requested:
                job.cancel_requested = True
                job.error = f"still running at its cancel_after ({job.request.cancel_after:g} s)"
                self._store.update(job)
                ended.append(job)
        return ended

    def outlived_retention(
        self, retention_s: float | None, by_user: dict[str, float], limit: int = 5000
    ) -> list[str]:
        """Ids of finished jobs older than the retention of their user (`by_user`, else
        `retention_s`; None: kept)."""
        spans = [span for span in (retention_s, *by_user.values()) if span is not None]
        if not spans:
            return []
        now = time.time()
        ended = self._store.ended_before(now - min(spans), limit)
        outlived = []
        for job_id, user, finished_at in ended:
            span = by_user.get(user or "", retention_s)
            if span is not None and finished_at < now - span:
                outlived.append(job_id)
        return outlived

    def forget(self, job_ids: list[str]) -> None:
        """Deletes finished jobs' records (their pictures are the caller's to delete)."""
        self._store.delete_jobs(job_ids)

    def expire_leases(self) -> list[Job]:
        """Requeues (or fails, after `max_attempts`) running jobs whose worker went silent."""
        now = time.monotonic()
        expired = [job_id for job_id, deadline in self._leases.items() if deadline < now]
        return [
            self._retry_or_fail(self._active[job_id], "its worker stopped responding")
            for job_id in expired
        ]

    # -------------------------------------------------------------- internals

    def _reload(self) -> None:
        """Rebuilds the in-memory queues from SQLite after a (re)start. Running jobs get a
        fresh lease: their worker either reports again or the job is requeued."""
        deadline = time.monotonic() + self.lease_timeout_s
        for seq, job in self._store.active():
            self._seq[job.id] = seq
            self._active[job.id] = job
            if job.deadline is not None:
                self._deadlines[job.id] = job.deadline
            if job.status is JobStatus.queued:
                self._enqueue(job)
            else:
                self._leases[job.id] = deadline

    def _enqueue(self, job: Job) -> None:
        move = job.moved_to_front
        if move is not None:  # ahead of its level's turns; the latest move first
            key = (-move.level, -1, -move.at, job.id)
        else:
            turn = self._turns[(job.model, job.priority)].take(submitter(job.owner, job.user))
            key = (-job.priority, turn, self._seq[job.id], job.id)
        self._keys[job.id] = key
        self._queues[job.model].add(key)

    def _dequeue(self, job: Job, served: bool = False) -> None:
        key = self._keys.pop(job.id)
        self._queues[job.model].remove(key)
        if served and job.moved_to_front is None:
            turns = self._turns[(job.model, job.priority)]
            turns.served = max(turns.served, key[1])

    def _with_position(self, job: Job) -> Job:
        key = self._keys.get(job.id)
        position = None if key is None else self._queues[job.model].index(key)
        return job.model_copy(update={"position": position})

    def _active_job(self, job_id: str) -> Job:
        job = self._active.get(job_id)
        if job is not None:
            return job
        found = self._store.get(job_id)
        if found is None:
            raise JobNotFound(job_id)
        raise JobStateConflict(f"job {job_id} is already {found[1].status.value}")

    def _owned(self, job_id: str, worker: str) -> Job | None:
        """The job if `worker` still runs it; a stale worker's word is ignored."""
        job = self._active.get(job_id)
        if job is None or job.status is not JobStatus.running or job.worker != worker:
            return None
        return job

    def _retry_or_fail(self, job: Job, reason: str) -> Job:
        self._leases.pop(job.id, None)
        if job.attempts >= self.max_attempts:
            job.error = f"gave up after {job.attempts} attempts: {reason}"
            return self._finish(job, JobStatus.failed)
        job.status = JobStatus.queued
        job.worker = None
        job.started_at = None
        job.progress = None
        self._store.update(job)
        self._enqueue(job)
        job = self._with_position(job)
        self._emit_state(job)
        return job

    def _finish(self, job: Job, status: JobStatus) -> Job:
        job.status = status
        job.finished_at = time.time()
        with self._store.transaction():  # the job's end and its webhook delivery together
            self._store.update(job)
            self._emit_state(job)
        self._active.pop(job.id, None)
        self._leases.pop(job.id, None)
        self._seq.pop(job.id, None)
        return job

    def _emit_state(self, job: Job, changed: bool = True) -> None:
        """The job's state as an event; as a webhook too when the status `changed`."""
        state = job.model_dump(mode="json")
        self.events.append(_state_event_type(job.status), job.id, job=state)
        if job.status.finished:
            self._progress_told.pop(job.id, None)
        if changed:
            self._tell_webhook(job, event_of(job.status), {"job": state})

    def _tell_progress(self, job: Job, payload: dict[str, Any]) -> None:
        hook = job.request.webhook
        if hook is None or "progress" not in hook.events:
            return
        now, told = time.monotonic(), self._progress_told.get(job.id)
        if told is not None and now - told < PROGRESS_INTERVAL_S:
            return
        self._progress_told[job.id] = now
        self._tell_webhook(job, "progress", {"job_id": job.id, **payload})

    def _tell_webhook(self, job: Job, event: WebhookEvent, data: dict[str, Any]) -> None:
        """Keeps a delivery for the job's webhook when it asked for `event`."""
        hook = job.request.webhook
        if hook is None or event not in hook.events:
            return
        self._store.add_delivery(new_delivery(job, event, data))
        self.on_delivery()

    def deliveries(self, job_id: str) -> list[WebhookDelivery]:
        self.get(job_id)  # JobNotFound for an unknown id
        return self._store.deliveries(job_id)


def _state_event_type(status: JobStatus) -> str:
    return "started" if status is JobStatus.running else status.value
