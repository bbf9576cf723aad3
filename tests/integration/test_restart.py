"""The whole application restarted (Serve, the board and Ray itself): queued jobs run,
finished ones are still listed with their images. Its own module: it owns Ray."""

from __future__ import annotations

import pytest

from tests.served import served_app

pytestmark = pytest.mark.serve

LEASE_S = 6.0


def test_whole_application_restart_keeps_queue_and_history(tmp_path):
    with served_app(
        tmp_path, lease_timeout_s=LEASE_S, max_batch_jobs=1, app_name="restart"
    ) as first:
        done = first.wait(first.submit(prompt="before", steps=2, seed=3)["id"])
        blocker = first.submit(prompt="busy", steps=60, width=192, height=192)
        first.wait_status(blocker["id"], "running")
        queued = [first.submit(prompt=f"later {i}", steps=1) for i in range(3)]
    # Serve, the board and Ray itself are gone; everything comes back from data_dir.
    with served_app(
        tmp_path, lease_timeout_s=LEASE_S, max_batch_jobs=1, app_name="restart"
    ) as second:
        for job in [blocker, *queued]:
            assert second.wait(job["id"], timeout=120)["status"] == "succeeded"
        history = second.http.get("/api/v1/jobs", params={"limit": 100}).json()["jobs"]
        assert done["id"] in [j["id"] for j in history]
        again = second.job(done["id"])
        assert again["status"] == "succeeded"
        assert second.image(again["images"][0]["url"]).info["parameters"].startswith("before")
