"""SQLite persistence for the JobBoard: every state change is committed before it is
acknowledged, so a restarted board (or a restarted application) loses nothing."""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from novagenia.jobs.schemas import Job, JobStatus
from novagenia.jobs.webhooks import Outgoing, WebhookDelivery

logger = logging.getLogger("novagenia.board")

QUARANTINED = "quarantined"  # the status of a row that no longer reads as a job

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    status TEXT NOT NULL,
    model TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    job_ids TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_age ON idempotency_keys(created_at);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    status TEXT NOT NULL,
    next_attempt_at REAL,
    url TEXT NOT NULL,
    scope TEXT NOT NULL,
    payload TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_deliveries_job ON webhook_deliveries(job_id);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


class JobStore:
    """Jobs as JSON rows; `seq` is the submission order used for FIFO and history paging."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash (the failure we design for);
        # only an OS crash or power loss can drop the last commits.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def insert(self, job: Job) -> int:
        """Adds a job; returns its submission sequence number."""
        cursor = self._db.execute(
            "INSERT INTO jobs (id, status, model, data) VALUES (?, ?, ?, ?)",
            (job.id, job.status.value, job.model, job.model_dump_json()),
        )
        return int(cursor.lastrowid)

    def update(self, job: Job) -> None:
        self._db.execute(
            "UPDATE jobs SET status = ?, data = ? WHERE id = ?",
            (job.status.value, job.model_dump_json(), job.id),
        )

    def update_many(self, jobs: list[Job]) -> None:
        with self.transaction():
            for job in jobs:
                self.update(job)

    def get(self, job_id: str) -> tuple[int, Job] | None:
        row = self._db.execute("SELECT seq, data FROM jobs WHERE id = ?", (job_id,)).fetchone()
        job = _parse(job_id, row[1]) if row else None
        return (row[0], job) if job else None

    def active(self) -> Iterator[tuple[int, Job]]:
        """Queued and running jobs in submission order, for reloading a restarted board.
        A row that no longer reads as a job is quarantined (and logged), not fatal: the
        board restarts through this, and one bad row must not crash-loop it."""
        rows = self._db.execute(
            "SELECT seq, id, data FROM jobs WHERE status IN (?, ?) ORDER BY seq",
            (JobStatus.queued.value, JobStatus.running.value),
        ).fetchall()
        for seq, job_id, data in rows:
            job = _parse(job_id, data)
            if job is None:
                self._db.execute("UPDATE jobs SET status = ? WHERE id = ?", (QUARANTINED, job_id))
                continue
            yield seq, job

    def ended_before(self, before: float, limit: int) -> list[tuple[str, str | None, float]]:
        """(id, user, finished at) of the jobs that ended before `before`, oldest first."""
        return self._db.execute(
            "SELECT id, json_extract(data, '$.user'), json_extract(data, '$.finished_at') "
            "FROM jobs WHERE status NOT IN (?, ?, ?) "
            "AND json_extract(data, '$.finished_at') < ? ORDER BY seq LIMIT ?",
            (JobStatus.queued.value, JobStatus.running.value, QUARANTINED, before, limit),
        ).fetchall()

    def delete_jobs(self, job_ids: list[str]) -> None:
        """The jobs' rows and their webhook deliveries go, together."""
        with self.transaction():
            for table, column in (("jobs", "id"), ("webhook_deliveries", "job_id")):
                self._db.executemany(
                    f"DELETE FROM {table} WHERE {column} = ?", [(i,) for i in job_ids]
                )

    def history(
        self, status: JobStatus | None, limit: int, before_seq: int | None
    ) -> list[tuple[int, Job]]:
        """Newest first, `before_seq` exclusive."""
        query, params = "SELECT seq, id, data FROM jobs WHERE status != ?", [QUARANTINED]
        if status is not None:
            query += " AND status = ?"
            params.append(status.value)
        if before_seq is not None:
            query += " AND seq < ?"
            params.append(before_seq)
        query += " ORDER BY seq DESC LIMIT ?"
        params.append(limit)
        rows = self._db.execute(query, params).fetchall()
        return [(seq, job) for seq, job_id, data in rows if (job := _parse(job_id, data))]

    def idempotency_record(self, scope: str, key: str) -> tuple[str, list[str], float] | None:
        """(fingerprint, job ids, created at) of a client's key, if kept."""
        row = self._db.execute(
            "SELECT fingerprint, job_ids, created_at FROM idempotency_keys "
            "WHERE scope = ? AND key = ?",
            (scope, key),
        ).fetchone()
        return (row[0], json.loads(row[1]), row[2]) if row else None

    def keep_idempotency_key(
        self, scope: str, key: str, fingerprint: str, job_ids: list[str], created_at: float
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO idempotency_keys VALUES (?, ?, ?, ?, ?)",
            (scope, key, fingerprint, json.dumps(job_ids), created_at),
        )

    def forget_idempotency_keys(self, before: float) -> int:
        """Drops keys created before `before`; returns how many."""
        return self._db.execute(
            "DELETE FROM idempotency_keys WHERE created_at < ?", (before,)
        ).rowcount

    def add_delivery(self, outgoing: Outgoing) -> None:
        record = outgoing.record
        self._db.execute(
            "INSERT INTO webhook_deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.job_id,
                record.status,
                record.next_attempt_at,
                outgoing.url,
                outgoing.scope,
                outgoing.payload,
                record.model_dump_json(),
            ),
        )

    def update_delivery(self, record: WebhookDelivery) -> None:
        self._db.execute(
            "UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, record = ? "
            "WHERE id = ?",
            (record.status, record.next_attempt_at, record.model_dump_json(), record.id),
        )

    def due_deliveries(self, now: float, limit: int) -> list[Outgoing]:
        rows = self._db.execute(
            "SELECT url, scope, payload, record FROM webhook_deliveries "
            "WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
            (now, limit),
        ).fetchall()
        return [
            Outgoing(WebhookDelivery.model_validate_json(record), url, scope, payload)
            for url, scope, payload, record in rows
        ]

    def next_delivery_at(self) -> float | None:
        row = self._db.execute(
            "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE status = 'pending'"
        ).fetchone()
        return row[0]

    def deliveries(self, job_id: str) -> list[WebhookDelivery]:
        rows = self._db.execute(
            "SELECT record FROM webhook_deliveries WHERE job_id = ? ORDER BY rowid", (job_id,)
        ).fetchall()
        return [WebhookDelivery.model_validate_json(row[0]) for row in rows]

    def secret(self, name: str) -> bytes:
        """A random secret of the server's (made on first use, kept with the jobs)."""
        self._db.execute(
            "INSERT OR IGNORE INTO secrets VALUES (?, ?)", (name, secrets.token_bytes(32))
        )
        return self._db.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()[0]

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status")
        counts = {status.value: 0 for status in JobStatus}
        counts.update({status: n for status, n in rows})
        return counts

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commits on success, rolls back on error (the connection runs in autocommit
        mode). Inside another, it is part of that one."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def _parse(job_id: str, data: str) -> Job | None:
    try:
        return Job.model_validate_json(data)
    except ValidationError as exc:
        logger.error(
            "job %s: its stored row is not a valid job (quarantined, left in the database "
            "for inspection): %s",
            job_id,
            exc,
        )
        return None
