"""The board's event log: a bounded, append-only list of job events with cursors.

Cursors are microsecond timestamps forced to increase, so they stay monotonic across a
board restart without persisting every progress event. A client whose cursor is older
than the oldest retained event is sent a snapshot of its jobs instead (nothing lost,
only intermediate progress compacted away).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

Event = dict[str, Any]


class EventLog:
    def __init__(self, capacity: int = 20_000) -> None:
        self._events: deque[Event] = deque(maxlen=capacity)
        # Events at or before the horizon are unknown here (evicted, or from before
        # this board started); readers that old get a snapshot instead.
        self._horizon = int(time.time() * 1_000_000)
        self._last_cursor = self._horizon
        self._changed: asyncio.Event | None = None

    @property
    def last_cursor(self) -> int:
        return self._last_cursor

    def next_cursor(self) -> int:
        self._last_cursor = max(self._last_cursor + 1, int(time.time() * 1_000_000))
        return self._last_cursor

    def append(self, event_type: str, job_id: str, **payload: Any) -> Event:
        event = {
            "type": event_type,
            "job_id": job_id,
            "cursor": self.next_cursor(),
            "ts": time.time(),
        }
        event.update(payload)
        if len(self._events) == self._events.maxlen:
            self._horizon = self._events[0]["cursor"]
        self._events.append(event)
        if self._changed is not None:
            self._changed.set()
            self._changed = None
        return event

    def covers(self, cursor: int) -> bool:
        """True when every event after `cursor` is still retained."""
        return cursor >= self._horizon

    def after(
        self, cursor: int, job_ids: frozenset[str] | None = None, limit: int = 5000
    ) -> list[Event]:
        out: list[Event] = []
        for event in reversed(self._events):
            if event["cursor"] <= cursor:
                break
            if job_ids is None or event["job_id"] in job_ids:
                out.append(event)
        out.reverse()
        return out[:limit]

    async def wait_after(self, cursor: int, timeout: float) -> list[Event]:
        """Long poll: events after `cursor`, waiting up to `timeout` for the first one."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.after(cursor)
            remaining = deadline - time.monotonic()
            if events or remaining <= 0:
                return events
            if self._changed is None:
                self._changed = asyncio.Event()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                return []

    def __len__(self) -> int:
        return len(self._events)
