"""The ingress fan-out: a subscriber sees every event appended after `subscribe`
returns, even the very first one (a compat request subscribes, then submits)."""

from __future__ import annotations

import asyncio

import pytest
import ray

from novagenia.api.fanout import EventFanout
from novagenia.app import remove_detached_actors
from novagenia.config import AppArgs
from novagenia.jobs.actor import get_board
from novagenia.jobs.schemas import GenerationRequest


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    args = AppArgs.model_validate(
        {"data_dir": str(tmp_path_factory.mktemp("data")), "app_name": "fanout-test"}
    ).absolute()
    board = get_board(args)
    ray.get(board.ready.remote())
    yield board
    remove_detached_actors(args)
    ray.shutdown()


def test_the_first_event_after_subscribe_is_delivered(board):
    async def scenario() -> list[str]:
        seen = []
        for n in range(5):  # a fresh fan-out each time: the poll loop starts anew
            fanout = EventFanout(board)
            job_id = f"first-{n}"
            subscription = await fanout.subscribe(frozenset({job_id}))
            request = GenerationRequest(prompt="x", model="m", seed=1, width=64, height=64)
            await board.submit.remote(job_id, request, None)
            event = await asyncio.wait_for(subscription.queue.get(), 20)
            seen.append(event["type"])
            fanout.unsubscribe(subscription)
        return seen

    assert asyncio.run(scenario()) == ["queued"] * 5
