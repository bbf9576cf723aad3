"""Quotas and queue turns per submitter, on the board without Ray."""

from __future__ import annotations

import pytest

from novagenia.jobs.board import JobBoard
from novagenia.jobs.quotas import ImageRate, Quota, QuotaExceeded
from novagenia.jobs.schemas import GenerationRequest
from novagenia.jobs.store import JobStore


def request(batch_size: int = 1) -> GenerationRequest:
    return GenerationRequest(
        prompt="p", model="m", width=64, height=64, seed=1, batch_size=batch_size
    )


def test_images_per_minute_count_over_a_sliding_minute():
    rate = ImageRate()
    rate.note("a", 2, now=0.0)
    rate.note("a", 1, now=10.0)
    rate.check("b", 3, limit=3, now=11.0)  # another submitter's minute is its own
    with pytest.raises(QuotaExceeded, match="3 images asked for in the last minute") as raised:
        rate.check("a", 1, limit=3, now=11.0)
    assert raised.value.retry_after_s == 49  # when the 2 images of t=0 leave the minute
    rate.check("a", 2, limit=3, now=60.5)
    with pytest.raises(QuotaExceeded, match="more than the 3 a minute"):
        rate.check("a", 4, limit=3, now=500.0)


def test_queued_jobs_are_capped_per_submitter_and_turns_go_by_api_key(tmp_path):
    board = JobBoard(JobStore(tmp_path / "jobs.sqlite3"))
    board.quota = Quota(max_queued_jobs=2)
    board.quota_by_user = {"key-b": Quota(max_queued_jobs=5)}
    # One API key naming many `user`s is still one submitter.
    board.submit("a1", request(), "alice", "key-a")
    board.submit("a2", request(), "bob", "key-a")
    with pytest.raises(QuotaExceeded, match="2 jobs queued already") as raised:
        board.submit("a3", request(), "carol", "key-a")
    assert raised.value.retry_after_s == 5
    for i in range(3):
        board.submit(f"b{i}", request(), None, "key-b")
    order = [board.claim("m", "w")[0].id for _ in range(5)]
    assert order == ["a1", "b0", "a2", "b1", "b2"]  # round robin between the two keys
    board.submit("a3", request(), "carol", "key-a")  # its queue has room again
