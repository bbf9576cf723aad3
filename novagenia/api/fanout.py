"""Fan-out of board events to this ingress replica's subscribers (WebSocket clients,
blocking compat requests): one long-poll loop per replica, however many subscribers,
each with its own bounded queue."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("novagenia.events")

SUBSCRIBER_QUEUE = 10_000
POLL_TIMEOUT_S = 15.0


@dataclass(eq=False)
class Subscription:
    job_ids: frozenset[str] | None  # None = every job
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE))
    overflowed: bool = False

    def offer(self, event: dict[str, Any]) -> None:
        if self.job_ids is not None and event["job_id"] not in self.job_ids:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A client this far behind reconnects with its cursor and misses nothing.
            self.overflowed = True


class EventFanout:
    def __init__(self, board) -> None:
        self._board = board
        self._subscribers: set[Subscription] = set()
        self._task: asyncio.Task | None = None
        self._polling = asyncio.Event()

    async def subscribe(self, job_ids: frozenset[str] | None) -> Subscription:
        """Returns once the poll loop has its starting cursor: every event the board
        appends from then on reaches the subscription."""
        subscription = Subscription(job_ids)
        self._subscribers.add(subscription)
        if self._task is None or self._task.done():
            self._polling = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._poll(self._polling))
        await self._polling.wait()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    async def _poll(self, polling: asyncio.Event) -> None:
        while True:
            try:
                cursor = await self._board.last_cursor.remote()
                break
            except Exception:
                logger.exception("could not reach the board; retrying")
                await asyncio.sleep(1.0)
        polling.set()
        while self._subscribers:
            try:
                events, gap = await self._board.wait_events.remote(cursor, POLL_TIMEOUT_S)
                if gap:
                    await self._resync()
            except Exception:
                logger.exception("event poll failed; retrying")
                await asyncio.sleep(1.0)
                continue
            for event in events:
                cursor = max(cursor, event["cursor"])
                for subscription in list(self._subscribers):
                    subscription.offer(event)

    async def _resync(self) -> None:
        """After a board restart some events are gone for good: give every subscriber
        the current state of its jobs instead, so none waits for an event never sent."""
        for subscription in list(self._subscribers):
            for event in await self._board.events_after.remote(None, subscription.job_ids):
                subscription.offer(event)
