"""Deadlines and retention through the served app: `cancel_after` expiring a queued job
and stopping a running one, finished jobs deleted with their pictures after their
user's retention, and a picture that cannot be stored failing its job, not the replica."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.served import served_app

pytestmark = pytest.mark.serve

SLOW = {"steps": 150, "width": 256, "height": 256}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with served_app(
        tmp_path_factory.mktemp("data"),
        max_batch_jobs=1,
        preview_every_steps=0,
        job_retention_by_user={"short-lived": 2.0},
        retention_sweep_s=1.0,
    ) as served:
        yield served


def test_cancel_after_expires_a_queued_job_and_stops_a_running_one(app):
    running = app.submit(prompt="long", cancel_after=2.0, **SLOW)
    app.wait_status(running["id"], "running")
    behind = app.submit(prompt="behind", steps=2, cancel_after=1.0)
    expired = app.wait(behind["id"], timeout=30)
    assert expired["status"] == "expired" and expired["started_at"] is None
    assert expired["error"] == "not started within its cancel_after (1 s)"
    stopped = app.wait(running["id"], timeout=60)
    assert stopped["status"] == "cancelled"
    assert stopped["error"] == "still running at its cancel_after (2 s)"
    assert stopped["finished_at"] - stopped["created_at"] < 2.0 + 5.0
    assert stopped["progress"]["step"] < SLOW["steps"]
    refused = app.http.post("/api/v1/jobs", json={"prompt": "x", "cancel_after": 0})
    assert refused.status_code == 422


def test_finished_jobs_go_with_their_pictures_after_their_users_retention(app):
    kept = app.wait(app.submit(prompt="kept", steps=2)["id"])
    gone = app.wait(app.submit(prompt="gone", steps=2, user="short-lived")["id"])
    url = gone["images"][0]["url"]
    assert app.http.get(url).status_code == 200
    folder = Path(app.args.resolved_output_uri) / gone["id"]
    assert folder.is_dir()
    deadline = time.monotonic() + 30
    while app.http.get(f"/api/v1/jobs/{gone['id']}").status_code != 404:
        assert time.monotonic() < deadline, "the job outlived its retention"
        time.sleep(0.2)
    assert app.http.get(url).status_code == 404 and not folder.exists()
    assert app.job(kept["id"])["status"] == "succeeded"  # no retention for its user
    assert app.http.get(kept["images"][0]["url"]).status_code == 200


def test_a_picture_that_cannot_be_stored_fails_its_job_and_the_replica_goes_on(app):
    job = app.submit(prompt="nowhere to go", steps=40, width=128, height=128)
    # A file where the job's folder would go: writing its picture fails, as on a full disk.
    (Path(app.args.resolved_output_uri) / job["id"]).write_bytes(b"")
    failed = app.wait(job["id"], timeout=60)
    assert failed["status"] == "failed"
    assert failed["error"].startswith("could not store the pictures:")
    assert app.wait(app.submit(prompt="after", steps=2)["id"])["status"] == "succeeded"
