"""Load, bounded and loopback only: 2,000 jobs from 50 concurrent clients while 100
WebSocket clients listen. No job lost or duplicated, every listener sees every event of
its jobs, and the board's memory stays bounded."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict

import httpx
import pytest
import ray
import websockets

from novagenia.detached import NAMESPACE
from tests.served import TINY, served_app

pytestmark = pytest.mark.serve

SUBMITTERS = 50
JOBS_PER_SUBMITTER = 40
LISTENERS = 100
CANCELLED_PER_SUBMITTER = 2
EVENT_CAPACITY = 5_000


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with served_app(
        tmp_path_factory.mktemp("data"),
        max_batch_jobs=8,
        max_queue_length=5_000,
        preview_every_steps=0,
        event_log_capacity=EVENT_CAPACITY,
    ) as served:
        yield served


async def submit_all(app, client: httpx.AsyncClient, submitter: int) -> list[str]:
    ids = []
    for i in range(JOBS_PER_SUBMITTER):
        response = await client.post(
            "/api/v1/jobs",
            json={
                "prompt": f"s{submitter} j{i}",
                "model": TINY,
                "steps": 1,
                "width": 64,
                "height": 64,
                "user": f"user{submitter}",
            },
        )
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


async def listen(app, job_ids: list[str], ready: asyncio.Event, connected: list) -> list[dict]:
    events: list[dict] = []
    open_jobs = set(job_ids)
    async with websockets.connect(
        f"{app.ws_url}?jobs={','.join(job_ids)}", max_size=None
    ) as socket:
        connected.append(1)
        if len(connected) == LISTENERS:
            ready.set()
        async with asyncio.timeout(600):
            while open_jobs:
                event = json.loads(await socket.recv())
                events.append(event)
                if event["type"] in ("succeeded", "failed", "cancelled"):
                    open_jobs.discard(event["job_id"])
    return events


async def run_load(app) -> tuple[dict[int, list[str]], list[list[dict]], set[str]]:
    limits = httpx.Limits(max_connections=SUBMITTERS)
    async with httpx.AsyncClient(base_url=app.base_url, timeout=120, limits=limits) as client:
        blocker = (
            await client.post(
                "/api/v1/jobs",
                json={
                    "prompt": "hold the replica",
                    "model": TINY,
                    "steps": 150,
                    "width": 512,
                    "height": 512,
                },
            )
        ).json()
        submitted = await asyncio.gather(*(submit_all(app, client, s) for s in range(SUBMITTERS)))
        by_submitter = dict(enumerate(submitted))
        ready, connected = asyncio.Event(), []
        listeners = [
            asyncio.create_task(listen(app, by_submitter[k % SUBMITTERS], ready, connected))
            for k in range(LISTENERS)
        ]
        await asyncio.wait_for(ready.wait(), 120)
        cancelled = {ids[-1 - i] for ids in submitted for i in range(CANCELLED_PER_SUBMITTER)}
        for job_id in cancelled:
            assert (await client.delete(f"/api/v1/jobs/{job_id}")).status_code == 200
        await client.delete(f"/api/v1/jobs/{blocker['id']}")
        heard = await asyncio.gather(*listeners)
    return by_submitter, heard, cancelled


def test_two_thousand_jobs_fifty_clients_hundred_listeners(app):
    by_submitter, heard, cancelled = asyncio.run(run_load(app))
    all_ids = [job_id for ids in by_submitter.values() for job_id in ids]
    assert len(all_ids) == len(set(all_ids)) == SUBMITTERS * JOBS_PER_SUBMITTER

    # Every listener saw each of its jobs' events in order, each exactly once.
    for k, events in enumerate(heard):
        mine = by_submitter[k % SUBMITTERS]
        per_job = defaultdict(list)
        for event in events:
            per_job[event["job_id"]].append(event["type"])
        assert set(per_job) == set(mine)
        for job_id in mine:
            expected = (
                ["queued", "cancelled"]
                if job_id in cancelled
                else ["queued", "started", "progress", "succeeded"]
            )
            assert per_job[job_id] == expected, (job_id, per_job[job_id])
        cursors = [e["cursor"] for e in events if not e.get("snapshot")]
        assert cursors == sorted(cursors) and len(cursors) == len(set(cursors))

    # The board's own books: every job exactly once, finished, run at most once.
    history = []
    cursor = None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = app.http.get("/api/v1/jobs", params=params).json()
        history.extend(page["jobs"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    outcome = Counter(job["status"] for job in history if job["id"] in set(all_ids))
    assert outcome == {"succeeded": len(all_ids) - len(cancelled), "cancelled": len(cancelled)}
    assert all(job["attempts"] <= 1 for job in history)

    board = ray.get_actor(app.args.board_name, namespace=NAMESPACE)
    stats = ray.get(board.stats.remote())
    assert stats["active_jobs"] == 0 and stats["queued_jobs"] == 0
    assert stats["events_retained"] <= EVENT_CAPACITY
    print(
        f"\nboard after load: {stats['events_retained']} events kept, rss {stats['rss_bytes'] / 2**20:.0f} MiB"
    )
