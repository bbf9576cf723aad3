"""Carrying a running batch's step reports from the pipeline thread to the board."""

from __future__ import annotations

import asyncio
import logging

from novagenia.jobs.protocol import WorkerReport

logger = logging.getLogger("novagenia.diffusion")


class ProgressReporter:
    """Carries step reports (pipeline thread) to the board (event loop) with at most one
    call in flight: reports that arrive meanwhile travel together in the next call, so
    every step is reported, the board is not flooded, and the GPU never waits on it."""

    def __init__(self, board, worker: str, loop: asyncio.AbstractEventLoop) -> None:
        self._board = board
        self._worker = worker
        self._loop = loop
        self._pending: list[WorkerReport] = []
        self._wakeup = asyncio.Event()
        self._closed = False
        self.stop: set[str] = set()  # job ids the board says must stop
        self._task = loop.create_task(self._pump())

    def post(self, report: WorkerReport) -> None:
        """Thread-safe: called from the pipeline thread."""
        self._loop.call_soon_threadsafe(self._enqueue, report)

    def _enqueue(self, report: WorkerReport) -> None:
        self._pending.append(report)
        self._wakeup.set()

    async def _pump(self) -> None:
        while not (self._closed and not self._pending):
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                self.stop.update(await self._board.report.remote(self._worker, batch))
            except Exception:
                logger.exception("progress report failed")

    async def heartbeat(self, job_ids: list[str]) -> None:
        self.stop.update(await self._board.heartbeat.remote(self._worker, job_ids))

    async def close(self) -> None:
        """Delivers every pending report before returning (events stay in order)."""
        await asyncio.sleep(0)  # let call_soon_threadsafe callbacks land
        self._closed = True
        self._wakeup.set()
        await self._task
