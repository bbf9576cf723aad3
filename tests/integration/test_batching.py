"""Claim-time batching: compatible queued jobs share one pipeline call, each image with
its own seed, progress and cancel, and the pixels match the same jobs run one by one."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.served import served_app

pytestmark = pytest.mark.serve

PROMPTS = ["a red circle", "a blue square", "a green triangle", "a white circle"]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with served_app(
        tmp_path_factory.mktemp("data"), max_batch_jobs=4, preview_every_steps=0
    ) as served:
        yield served


def queue_behind_blocker(app, jobs: list[dict]) -> tuple[dict, list[dict]]:
    """Holds the single replica busy so the jobs queue up and get claimed together."""
    blocker = app.submit(prompt="busy", steps=40, width=192, height=192)
    app.wait_status(blocker["id"], "running")
    return blocker, [app.submit(**job) for job in jobs]


def test_batched_jobs_match_the_same_jobs_run_alone(app):
    specs = [
        {"prompt": p, "seed": 100 + i, "steps": 4, "negative_prompt": "blur" if i % 2 else ""}
        for i, p in enumerate(PROMPTS)
    ]
    blocker, queued = queue_behind_blocker(app, specs)
    batched = [app.wait(job["id"]) for job in queued]
    assert len({job["started_at"] for job in batched}) == 1, "not claimed as one batch"
    assert len({job["worker"] for job in batched}) == 1
    alone = [app.wait(app.submit(**spec)["id"]) for spec in specs]
    for together, single in zip(batched, alone, strict=True):
        assert together["images"][0]["seed"] == single["images"][0]["seed"]
        difference = np.abs(app.pixels(together).astype(int) - app.pixels(single).astype(int))
        assert difference.max() <= 3, difference.max()
    assert app.wait(blocker["id"])["status"] == "succeeded"


def test_incompatible_jobs_are_not_batched(app):
    specs = [
        {"prompt": "a", "steps": 3},
        {"prompt": "b", "steps": 4},
        {"prompt": "c", "steps": 3, "sampler": "ddim"},
    ]
    _, queued = queue_behind_blocker(app, specs)
    finished = [app.wait(job["id"]) for job in queued]
    assert len({job["started_at"] for job in finished}) == 3


def test_cancelled_member_does_not_spoil_the_batch(app):
    specs = [
        {"prompt": p, "seed": 7 + i, "steps": 30, "width": 160, "height": 160}
        for i, p in enumerate(PROMPTS)
    ]
    _, queued = queue_behind_blocker(app, specs)
    victim = queued[1]
    app.wait_status(victim["id"], "running", timeout=120)
    while (app.job(victim["id"])["progress"] or {}).get("step", 0) < 2:
        time.sleep(0.01)
    assert app.http.delete(f"/api/v1/jobs/{victim['id']}").status_code == 200
    results = [app.wait(job["id"]) for job in queued]
    assert [job["status"] for job in results] == [
        "succeeded",
        "cancelled",
        "succeeded",
        "succeeded",
    ]
    assert results[1]["images"] == []
    survivor = results[2]
    alone = app.wait(app.submit(**specs[2])["id"])
    assert np.abs(app.pixels(survivor).astype(int) - app.pixels(alone).astype(int)).max() <= 3


def test_each_batch_member_reports_its_own_progress(app):
    _, queued = queue_behind_blocker(app, [{"prompt": p, "steps": 5} for p in PROMPTS[:2]])
    events = app.events([job["id"] for job in queued])
    for job in queued:
        steps = [e["step"] for e in events if e["job_id"] == job["id"] and e["type"] == "progress"]
        assert steps == [1, 2, 3, 4, 5]


def test_next_batch_is_claimed_before_the_last_one_is_stored(app):
    """The replica claims the next ticket's jobs when the running batch reaches its last
    step, so the decode, PNGs and completions of one batch overlap the next one."""
    blocker, queued = queue_behind_blocker(
        app, [{"prompt": "first", "steps": 4, "width": 192, "height": 192}]
    )
    first = app.wait(blocker["id"])
    # The queued job is incompatible with the blocker (other steps and size), so it ran
    # in its own batch, claimed while the blocker was still being stored.
    second = app.wait(queued[0]["id"])
    assert first["status"] == second["status"] == "succeeded"
    assert first["started_at"] < second["started_at"] < first["finished_at"]
