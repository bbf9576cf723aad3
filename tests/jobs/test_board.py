"""The board's ordering and state machine, without Ray."""

from __future__ import annotations

import sqlite3

import pytest

from novagenia.jobs.board import JobBoard, JobNotFound, JobStateConflict, QueueFull
from novagenia.jobs.protocol import ProgressReport
from novagenia.jobs.schemas import GenerationRequest, ImageInfo, JobStatus, PriorityChange
from novagenia.jobs.store import JobStore


def request(priority: int = 0, model: str = "m", **extra) -> GenerationRequest:
    extra = {"width": 64, "height": 64, **extra}
    return GenerationRequest(prompt="p", model=model, priority=priority, seed=1, **extra)


@pytest.fixture
def board(tmp_path):
    return JobBoard(JobStore(tmp_path / "jobs.sqlite3"), max_queue_length=100, max_attempts=2)


def claim_order(board: JobBoard, model: str = "m") -> list[str]:
    order = []
    while jobs := board.claim(model, "w"):
        order.append(jobs[0].id)
    return order


def test_higher_priority_first_then_fifo(board):
    board.submit("a", request(0), None)
    board.submit("b", request(5), None)
    board.submit("c", request(0), None)
    board.submit("d", request(5), None)
    assert [board.get(i).position for i in "abcd"] == [2, 0, 3, 1]
    assert claim_order(board) == ["b", "d", "a", "c"]


def test_models_have_separate_queues(board):
    board.submit("a", request(model="x"), None)
    board.submit("b", request(model="y"), None)
    assert board.get("b").position == 0
    assert [j.id for j in board.claim("y", "w")] == ["b"]
    assert board.claim("y", "w") == []


def test_users_take_turns_within_a_priority(board):
    for i in range(5):
        board.submit(f"burst{i}", request(), "alice")
    board.submit("single", request(), "bob")
    order = claim_order(board)
    assert order.index("single") == 1
    assert [i for i in order if i.startswith("burst")] == [f"burst{i}" for i in range(5)]


def test_front_and_priority_change(board):
    for name in "abc":
        board.submit(name, request(priority=3 if name == "a" else 0), None)
    assert board.reprioritize("c", PriorityChange(front=True)).position == 0
    assert board.reprioritize("b", PriorityChange(priority=10)).position == 0
    assert claim_order(board) == ["b", "c", "a"]


def test_front_moves_the_job_but_keeps_its_priority(tmp_path):
    board = JobBoard(JobStore(tmp_path / "jobs.sqlite3"))
    board.submit("urgent", request(priority=10), None)
    board.submit("low", request(), None)
    moved = board.reprioritize("low", PriorityChange(front=True))
    assert (moved.position, moved.priority, moved.request.priority) == (0, 0, 0)
    assert moved.moved_to_front is not None
    board.submit("later", request(priority=10), None)  # queued after the move: behind it
    restarted = JobBoard(JobStore(tmp_path / "jobs.sqlite3"))  # the move is persisted
    assert claim_order(restarted) == ["low", "urgent", "later"]


def test_a_batch_never_overtakes_a_higher_priority_job(board):
    """The reported case: a priority-10 job heads the queue, another job is moved to the
    front; the priority-0 jobs compatible with it must not start in its batch."""
    board.submit("urgent", request(priority=10, steps=30), None)
    for name in ("p1", "p2", "p3", "moved"):
        board.submit(name, request(), None)
    board.reprioritize("moved", PriorityChange(front=True))
    assert [j.id for j in board.claim("m", "w", max_jobs=8)] == ["moved"]
    assert [j.id for j in board.claim("m", "w", max_jobs=8)] == ["urgent"]
    assert [j.id for j in board.claim("m", "w", max_jobs=8)] == ["p1", "p2", "p3"]


def test_a_batch_passes_incompatible_jobs_of_its_level_only(board):
    board.submit("a", request(), None)
    board.submit("other", request(steps=5), None)
    board.submit("b", request(), None)
    board.submit("low", request(priority=-1), None)
    assert [j.id for j in board.claim("m", "w", max_jobs=8)] == ["a", "b"]
    assert [j.id for j in board.claim("m", "w", max_jobs=8)] == ["other"]
    assert [j.id for j in board.claim("m", "w", max_jobs=8)] == ["low"]


def test_a_batch_is_capped_by_its_images_too(board):
    for name, size in (("a", 4), ("b", 4), ("c", 1), ("d", 4)):
        board.submit(name, request(batch_size=size), None)
    assert [j.id for j in board.claim("m", "w", max_jobs=8, max_images=9)] == ["a", "b", "c"]
    assert [j.id for j in board.claim("m", "w", max_jobs=8, max_images=2)] == ["d"]  # alone


def test_a_batch_is_capped_by_its_pixels_at_its_size(board):
    for name in "abcde":
        board.submit(name, request(), None)  # 64x64: 4096 pixels each
    board.submit("big", request(batch_size=2, width=128, height=128), None)
    claim = board.claim("m", "w", max_jobs=8, max_images=4, max_pixels=3 * 4096 + 100)
    assert [j.id for j in claim] == ["a", "b", "c"]
    assert [j.id for j in board.claim("m", "w", max_jobs=8, max_pixels=10**6)] == ["d", "e"]
    # Bigger than the bound on its own: it still runs, alone.
    assert [j.id for j in board.claim("m", "w", max_jobs=8, max_pixels=4096)] == ["big"]


def test_a_stored_row_that_no_longer_validates_is_quarantined(tmp_path, caplog):
    path = tmp_path / "jobs.sqlite3"
    board = JobBoard(JobStore(path))
    for name in ("good", "bad", "done"):
        board.submit(name, request(), None)
    board.cancel("done")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE jobs SET data = '{\"id\": \"bad\"}' WHERE id = 'bad'")
    restarted = JobBoard(JobStore(path))  # must not raise
    assert claim_order(restarted) == ["good"]
    assert "job bad: its stored row is not a valid job" in caplog.text
    with pytest.raises(JobNotFound):
        restarted.get("bad")
    page, _ = restarted.history(None, 10, None)
    assert [job.id for job in page] == ["done", "good"]
    assert JobStore(path).counts()["quarantined"] == 1
    JobBoard(JobStore(path))  # and again: the row stays quarantined


def test_a_model_being_deleted_takes_no_jobs_and_is_refused_while_used(board):
    board.submit("a", request(model="x"), None)
    with pytest.raises(JobStateConflict, match="1 queued and 0 running"):
        board.begin_model_removal("x")
    board.cancel("a")
    board.begin_model_removal("x")
    with pytest.raises(JobStateConflict, match="being deleted"):
        board.submit("b", request(model="x"), None)
    board.end_model_removal("x")
    assert board.submit("b", request(model="x"), None).status is JobStatus.queued


def test_submit_is_idempotent_and_bounded(tmp_path):
    board = JobBoard(JobStore(tmp_path / "db"), max_queue_length=2)
    first = board.submit("a", request(), None)
    assert board.submit("a", request(), None).id == first.id
    board.submit("b", request(), None)
    with pytest.raises(QueueFull):
        board.submit("c", request(), None)


def test_state_machine(board):
    board.submit("a", request(), None)
    [job] = board.claim("m", "w1")
    assert job.status is JobStatus.running and job.attempts == 1
    # A stale worker's word is ignored.
    assert board.succeed("a", "someone-else", []) is None
    image = ImageInfo(index=0, url="/api/v1/images/a/0.png", seed=1, width=64, height=64)
    assert board.succeed("a", "w1", [image]).status is JobStatus.succeeded
    with pytest.raises(JobStateConflict):
        board.cancel("a")
    with pytest.raises(JobNotFound):
        board.cancel("nope")
    with pytest.raises(JobNotFound):
        board.get("nope")


def test_cancel_queued_and_running(board):
    board.submit("q", request(), None)
    board.submit("r", request(priority=1), None)
    board.claim("m", "w")
    assert board.cancel("q").status is JobStatus.cancelled
    running = board.cancel("r")
    assert running.status is JobStatus.running and running.cancel_requested
    update = ProgressReport(job_ids=["r"], ts=0, step=1, total_steps=20, elapsed_s=0.1)
    assert board.report("w", [update]) == ["r"]
    assert board.cancelled("r", "w").status is JobStatus.cancelled


def test_expired_lease_requeues_then_fails(tmp_path):
    board = JobBoard(JobStore(tmp_path / "db"), max_attempts=2, lease_timeout_s=0.0)
    board.submit("a", request(), None)
    board.claim("m", "w1")
    [requeued] = board.expire_leases()
    assert requeued.status is JobStatus.queued and requeued.position == 0
    board.claim("m", "w2")
    [failed] = board.expire_leases()
    assert failed.status is JobStatus.failed
    assert "2 attempts" in failed.error


def test_restart_reloads_order_from_sqlite(tmp_path):
    board = JobBoard(JobStore(tmp_path / "db"))
    board.submit("low", request(0), None)
    board.submit("high", request(9), None)
    board.submit("run", request(20), None)
    board.claim("m", "w")
    reloaded = JobBoard(JobStore(tmp_path / "db"))
    assert reloaded.get("run").status is JobStatus.running
    assert claim_order(reloaded) == ["high", "low"]


def test_history_pages_newest_first(board):
    for i in range(5):
        board.submit(f"j{i}", request(), None)
    board.cancel("j1")
    page, cursor = board.history(None, 2, None)
    assert [j.id for j in page] == ["j4", "j3"]
    page, cursor = board.history(None, 2, cursor)
    assert [j.id for j in page] == ["j2", "j1"]
    cancelled, _ = board.history(JobStatus.cancelled, 10, None)
    assert [j.id for j in cancelled] == ["j1"]


def test_batch_claims_only_compatible_jobs(board):
    board.submit("a", request(steps=10), None)
    board.submit("b", request(steps=20), None)
    board.submit("c", request(steps=10), None)
    assert [j.id for j in board.claim("m", "w", max_jobs=4)] == ["a", "c"]


def test_one_report_carries_a_batch_step_to_each_of_its_jobs(board):
    for job_id in ("a", "b", "c"):
        board.submit(job_id, request(), None)
    board.claim("m", "w", max_jobs=2)  # a and b, in one batch
    board.cancel("b")
    step = ProgressReport(job_ids=["a", "b", "c"], ts=0, step=3, total_steps=20, elapsed_s=0.3)
    assert sorted(board.report("w", [step])) == ["b", "c"]  # cancelled; not w's
    progress = [e for e in board.events.after(0) if e["type"] == "progress"]
    assert [(e["job_id"], e["step"]) for e in progress] == [("a", 3), ("b", 3)]
    assert board.get("a").progress.step == 3 and board.get("c").progress is None


def test_events_have_increasing_cursors_and_snapshots(board):
    board.submit("a", request(), None)
    board.claim("m", "w")
    board.report("w", [ProgressReport(job_ids=["a"], ts=0, step=1, total_steps=20, elapsed_s=0.1)])
    events = board.events.after(0)
    assert [e["type"] for e in events] == ["queued", "started", "progress"]
    cursors = [e["cursor"] for e in events]
    assert cursors == sorted(set(cursors))
    [snapshot] = board.snapshot(frozenset({"a"}))
    assert snapshot["type"] == "started" and snapshot["snapshot"]
    assert snapshot["job"]["progress"]["step"] == 1
