"""Carrying a running batch's step reports from the pipeline thread to the board."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import ray
from PIL import Image

from novagenia.engine.previews import as_data_url
from novagenia.jobs.protocol import PreviewReport, WorkerReport

logger = logging.getLogger("novagenia.diffusion")

# Steps faster than this travel to the board together: each call costs the pipeline
# thread about as much Python as a step of a small model, and the window keeps the step
# -> WebSocket delay well under 50 ms.
MIN_REPORT_INTERVAL_S = 0.025


class ProgressReporter:
    """Carries step reports from the pipeline thread to the board with at most one call
    in flight: reports that arrive meanwhile travel together in the next call, so every
    step is reported, the board is not flooded, and a step never waits on the board.

    The pipeline thread makes the call itself. Handing each step to the event loop
    instead woke another thread of this process per step, and on a CPU replica that
    thread's fight for the GIL slowed the denoising by ~25 % (bench, 2026-12-04).
    Previews are rendered in a worker thread, off the pipeline's thread."""

    def __init__(self, board, worker: str, loop: asyncio.AbstractEventLoop) -> None:
        self._board = board
        self._worker = worker
        self._loop = loop
        self._lock = threading.Lock()  # the pipeline thread and the event loop share:
        self._pending: list[WorkerReport] = []
        self._in_flight: ray.ObjectRef | None = None
        self._sent_at = 0.0
        self._renders: set[asyncio.Task] = set()
        self.stop: set[str] = set()  # job ids the board says must stop

    def post(self, report: WorkerReport) -> None:
        """Called from the pipeline thread, once per step: sends now, or with the next
        step's report when the board has not answered the last call yet."""
        with self._lock:
            self._pending.append(report)
            if time.monotonic() - self._sent_at < MIN_REPORT_INTERVAL_S:
                return  # steps this fast: the next one comes before the window ends
            if self._in_flight is not None:
                ready, _ = ray.wait([self._in_flight], timeout=0, fetch_local=True)
                if not ready:
                    return
                self._take_answer(self._in_flight)
            self._send()

    def post_preview(
        self, job_id: str, step: int, render: Callable[[], Image.Image | None]
    ) -> None:
        """Thread-safe: `render` runs in a worker thread and its picture is reported."""
        self._loop.call_soon_threadsafe(self._start_render, job_id, step, render)

    def _send(self) -> None:
        self._sent_at = time.monotonic()
        batch, self._pending = self._pending, []
        self._in_flight = self._board.report.remote(self._worker, batch) if batch else None

    def _take_answer(self, ref: ray.ObjectRef) -> None:
        """Only for a call already answered: `ray.get` then returns at once."""
        self._in_flight = None
        try:
            self.stop.update(ray.get(ref))
        except Exception:
            logger.exception("progress report failed")

    def _start_render(self, job_id: str, step: int, render) -> None:
        task = self._loop.create_task(self._render(job_id, step, render))
        self._renders.add(task)
        task.add_done_callback(self._renders.discard)

    async def _render(self, job_id: str, step: int, render) -> None:
        try:
            image = await asyncio.to_thread(render)
            if image is not None:
                url = await asyncio.to_thread(as_data_url, image)
                self._post_from_loop([PreviewReport(job_id=job_id, step=step, image=url)])
        except Exception:
            logger.warning("preview of %s at step %d failed", job_id, step, exc_info=True)

    def _post_from_loop(self, reports: list[WorkerReport]) -> None:
        with self._lock:
            self._pending.extend(reports)
            if self._in_flight is None:
                self._send()

    async def heartbeat(self, job_ids: list[str]) -> None:
        self.stop.update(await self._board.heartbeat.remote(self._worker, job_ids))

    async def close(self) -> None:
        """Delivers every pending report and preview before returning (a job's events
        all precede its completion). Called once the pipeline thread is done."""
        await asyncio.sleep(0)  # let call_soon_threadsafe callbacks land
        if self._renders:
            await asyncio.gather(*self._renders)
        while self._in_flight is not None or self._pending:
            if self._in_flight is not None:
                in_flight = self._in_flight
                try:
                    self.stop.update(await in_flight)
                except Exception:
                    logger.exception("progress report failed")
                with self._lock:
                    if self._in_flight is in_flight:
                        self._in_flight = None
            with self._lock:
                self._send()
