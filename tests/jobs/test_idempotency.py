"""Idempotency keys on the board, without Ray: replay, conflict, scope, window, restart."""

from __future__ import annotations

import time

import pytest

from novagenia.jobs.board import IdempotencyConflict, JobBoard
from novagenia.jobs.idempotency import IdempotencyKey
from novagenia.jobs.store import JobStore

BODY = {"prompt": "a red circle", "steps": 4}


def board_at(path, window_s: float = 3600) -> JobBoard:
    return JobBoard(JobStore(path / "jobs.sqlite3"), idempotency_window_s=window_s)


def test_the_same_key_and_request_stand_for_the_first_job_ids(tmp_path):
    board = board_at(tmp_path)
    key = IdempotencyKey.of("k1", None, "jobs", BODY)
    assert board.reserve_job_ids(key, ["first"]) == ["first"]
    same = IdempotencyKey.of("k1", None, "jobs", {"steps": 4, "prompt": "a red circle"})
    assert board.reserve_job_ids(same, ["second"]) == ["first"]  # key order is no change


def test_the_same_key_with_another_request_is_a_conflict(tmp_path):
    board = board_at(tmp_path)
    board.reserve_job_ids(IdempotencyKey.of("k1", None, "jobs", BODY), ["first"])
    other = IdempotencyKey.of("k1", None, "jobs", {**BODY, "steps": 5})
    with pytest.raises(IdempotencyConflict, match="'k1' came before with another request"):
        board.reserve_job_ids(other, ["second"])
    elsewhere = IdempotencyKey.of("k1", None, "openai/generations", BODY)
    with pytest.raises(IdempotencyConflict):
        board.reserve_job_ids(elsewhere, ["third"])


def test_keys_of_different_callers_never_meet(tmp_path):
    board = board_at(tmp_path)
    assert board.reserve_job_ids(IdempotencyKey.of("k", "key-a", "jobs", BODY), ["a"]) == ["a"]
    assert board.reserve_job_ids(IdempotencyKey.of("k", "key-b", "jobs", BODY), ["b"]) == ["b"]
    other = IdempotencyKey.of("k", "key-b", "jobs", {"prompt": "x"})
    with pytest.raises(IdempotencyConflict):
        board.reserve_job_ids(other, ["c"])


def test_keys_hold_across_a_restart_and_expire_after_the_window(tmp_path):
    key = IdempotencyKey.of("k1", None, "jobs", BODY)
    board_at(tmp_path).reserve_job_ids(key, ["first"])
    restarted = board_at(tmp_path)
    assert restarted.reserve_job_ids(key, ["second"]) == ["first"]

    short = board_at(tmp_path, window_s=0.2)
    time.sleep(0.3)
    other = IdempotencyKey.of("k1", None, "jobs", {"prompt": "new"})
    assert short.reserve_job_ids(other, ["third"]) == ["third"]  # expired: a new request
    time.sleep(0.3)
    assert short.forget_idempotency_keys() == 1
    assert short.reserve_job_ids(key, ["fourth"]) == ["fourth"]
