"""The application end to end on real Ray Serve and the embedded tiny model (CPU)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from pydantic import TypeAdapter

from novagenia.api.schemas import StreamEvent
from novagenia.engine.samplers import SAMPLERS
from tests.served import TINY, served_app

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with served_app(tmp_path_factory.mktemp("data"), preview_every_steps=5) as served:
        yield served


def test_job_runs_with_one_progress_event_per_step(app):
    job = app.submit(prompt="a red circle", steps=8, seed=42)
    assert job["status"] == "queued" and job["position"] is not None
    events = app.events([job["id"]])
    types = [e["type"] for e in events]
    assert types[-1] == "succeeded", events[-1]
    progress = [e["step"] for e in events if e["type"] == "progress"]
    assert progress == list(range(1, 9))
    assert types.index("started") < types.index("progress")
    assert [e["step"] for e in events if e["type"] == "preview"] == [5]
    cursors = [e["cursor"] for e in events if not e.get("snapshot")]
    assert cursors == sorted(cursors)
    done = app.job(job["id"])
    assert done["progress"]["step"] == 8
    assert done["images"][0]["seed"] == 42


def test_png_is_valid_and_carries_its_parameters(app):
    job = app.wait(
        app.submit(
            prompt="a blue square", negative_prompt="blurry", steps=3, seed=7, width=64, height=96
        )["id"]
    )
    image = app.image(job["images"][0]["url"])
    assert image.size == (64, 96)
    parameters = image.info["parameters"]
    assert parameters.splitlines()[0] == "a blue square"
    assert parameters.splitlines()[1] == "Negative prompt: blurry"
    assert "Steps: 3, Sampler: Euler a, CFG scale: 7, Seed: 7, Size: 64x96" in parameters
    assert f"Model: {TINY}" in parameters


def test_same_seed_same_pixels_different_seed_different(app):
    first, second, other = (
        app.wait(app.submit(prompt="a cat", steps=4, seed=seed, sampler="dpmpp_2m")["id"])
        for seed in (1234, 1234, 1235)
    )
    assert np.array_equal(app.pixels(first), app.pixels(second))
    assert not np.array_equal(app.pixels(first), app.pixels(other))


def test_batch_reports_one_seed_per_image(app):
    job = app.wait(app.submit(prompt="dogs", steps=2, seed=10, batch_size=3)["id"])
    assert [image["seed"] for image in job["images"]] == [10, 11, 12]
    pixels = [app.pixels(job, i) for i in range(3)]
    assert not np.array_equal(pixels[0], pixels[1])
    single = app.wait(app.submit(prompt="dogs", steps=2, seed=11)["id"])
    assert np.abs(app.pixels(single).astype(int) - pixels[1].astype(int)).max() <= 2


@pytest.mark.parametrize("sampler", ["euler", "euler_a", "dpmpp_2m", "ddim", "lms"])
def test_named_samplers_run(app, sampler):
    job = app.wait(app.submit(prompt="x", steps=2, sampler=sampler, width=64, height=64)["id"])
    assert job["status"] == "succeeded", job["error"]
    parameters = app.image(job["images"][0]["url"]).info["parameters"]
    assert f"Sampler: {SAMPLERS[sampler].label}," in parameters


def test_every_websocket_message_matches_the_published_schema(app):
    job = app.submit(prompt="schema", steps=10, seed=3)
    events = app.events([job["id"]])
    adapter = TypeAdapter(StreamEvent)
    parsed = [adapter.validate_python(event) for event in events]
    assert {e.type for e in parsed} >= {"started", "progress", "preview", "succeeded"}
    schema = app.http.get("/api/v1/events/schema").json()
    assert schema["discriminator"]["propertyName"] == "type"
    assert set(schema["discriminator"]["mapping"]) == {
        "queued",
        "started",
        "progress",
        "preview",
        "succeeded",
        "failed",
        "cancelled",
        "expired",
        "download",
    }
    components = app.http.get("/openapi.json").json()["components"]["schemas"]
    assert {"StreamEvent", "JobStateEvent", "ProgressEvent", "PreviewEvent"} <= set(components)
    assert components["StreamEvent"]["discriminator"]["propertyName"] == "type"


def test_cancel_mid_run_stops_at_next_step(app):
    job = app.submit(prompt="slow", steps=150, width=256, height=256)
    seen: list[dict] = []
    listener = threading.Thread(target=lambda: seen.extend(app.events([job["id"]], timeout=120)))
    listener.start()
    running = app.wait_status(job["id"], "running")
    while (app.job(job["id"])["progress"] or {}).get("step", 0) < 3:
        time.sleep(0.01)
    response = app.http.delete(f"/api/v1/jobs/{job['id']}")
    assert response.status_code == 200
    step_at_cancel = response.json()["progress"]["step"]
    listener.join(timeout=120)
    assert running["status"] == "running"
    assert seen[-1]["type"] == "cancelled"
    last_step = max(e["step"] for e in seen if e["type"] == "progress")
    assert last_step <= step_at_cancel + 2 < 150
    assert app.http.delete(f"/api/v1/jobs/{job['id']}").status_code == 409


def test_high_priority_overtakes_queued_low_priority(app):
    blocker = app.submit(prompt="busy", steps=60, width=192, height=192)
    app.wait_status(blocker["id"], "running")
    low = [app.submit(prompt=f"low {i}", steps=1, priority=0) for i in range(2)]
    # Another step count, so it cannot share the low jobs' batch: its order is observable.
    high = app.submit(prompt="urgent", steps=2, priority=10)
    assert app.job(high["id"])["position"] == 0
    finished = {j["id"]: app.wait(j["id"]) for j in [*low, high]}
    assert all(finished[high["id"]]["started_at"] < finished[j["id"]]["started_at"] for j in low)
    assert app.wait(blocker["id"])["status"] == "succeeded"


def test_queued_job_can_jump_the_queue_and_be_cancelled(app):
    blocker = app.submit(prompt="busy", steps=40, width=192, height=192)
    app.wait_status(blocker["id"], "running")
    first = app.submit(prompt="a", steps=1)
    second = app.submit(prompt="b", steps=1)
    moved = app.http.patch(f"/api/v1/jobs/{second['id']}", json={"front": True})
    assert moved.status_code == 200 and moved.json()["position"] == 0
    queue = app.http.get("/api/v1/queue").json()
    order = [j["id"] for j in queue["queued"]]
    assert order.index(second["id"]) < order.index(first["id"])
    assert queue["models"][TINY]["running"] >= 1
    cancelled = app.http.delete(f"/api/v1/jobs/{first['id']}").json()
    assert cancelled["status"] == "cancelled"
    assert app.http.patch(f"/api/v1/jobs/{first['id']}", json={"priority": 3}).status_code == 409
    assert app.wait(second["id"])["status"] == "succeeded"


def test_reconnect_with_cursor_gets_missed_events(app):
    job = app.submit(prompt="resume me", steps=30, width=192, height=192)
    first = app.events([job["id"]], until={"progress"})
    cursor = first[-1]["cursor"]
    app.wait(job["id"])
    missed = app.events([job["id"]], cursor=cursor)
    assert not any(e.get("snapshot") for e in missed)
    steps = [e["step"] for e in first + missed if e["type"] == "progress"]
    assert steps == list(range(1, 31))
    assert missed[-1]["type"] == "succeeded"


def test_new_subscriber_first_gets_current_state(app):
    job = app.wait(app.submit(prompt="done already", steps=1)["id"])
    [event] = app.events([job["id"]], count=1)
    assert event["snapshot"] is True and event["type"] == "succeeded"
    assert event["job"]["images"] == job["images"]


def test_history_lists_newest_first_with_paging(app):
    page = app.http.get("/api/v1/jobs", params={"limit": 2}).json()
    assert len(page["jobs"]) == 2 and page["next_cursor"]
    following = app.http.get(
        "/api/v1/jobs", params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert following["jobs"][0]["created_at"] <= page["jobs"][-1]["created_at"]
    succeeded = app.http.get("/api/v1/jobs", params={"status": "succeeded"}).json()["jobs"]
    assert succeeded and all(j["status"] == "succeeded" for j in succeeded)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x", "width": 100}, "width"),
        ({"prompt": "x", "height": 4096}, "height"),
        ({"prompt": "x", "width": 32}, "width"),
        ({"prompt": "x", "steps": 0}, "steps"),
        ({"prompt": "x", "steps": 151}, "steps"),
        ({"prompt": "x", "model": "no/such-model"}, "model"),
        ({"prompt": "x", "model": "../../etc"}, "model"),
        ({"prompt": "x", "sampler": "magic"}, "sampler"),
        ({"prompt": "x", "seed": -1}, "seed"),
        ({"prompt": "x", "loras": [{"name": "../x", "weight": 1}]}, "loras"),
        ({}, "prompt"),
    ],
)
def test_bad_requests_get_422(app, body, field):
    response = app.http.post("/api/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    assert field in str(response.json()["detail"])


def test_unknown_ids_and_wrong_states(app):
    assert app.http.get("/api/v1/jobs/nope").status_code == 404
    assert app.http.delete("/api/v1/jobs/nope").status_code == 404
    assert app.http.patch("/api/v1/jobs/nope", json={"priority": 1}).status_code == 404
    assert app.http.get("/api/v1/images/nope/0.png").status_code == 404
    assert app.http.get("/api/v1/images/..%2F..%2Fjobs.sqlite3/0.png").status_code == 404
    assert app.http.get("/api/v1/jobs", params={"status": "weird"}).status_code == 422
    assert (
        app.http.post(
            "/api/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )


def test_health_models_samplers_and_docs(app):
    assert app.http.get("/api/v1/health").json()["status"] == "ok"
    models = app.http.get("/api/v1/models").json()["models"]
    assert TINY in [m["id"] for m in models]
    names = [s["name"] for s in app.http.get("/api/v1/samplers").json()["samplers"]]
    assert {"euler", "euler_a", "dpmpp_2m", "ddim", "lcm"} <= set(names)
    assert "/api/v1/jobs" in app.http.get("/openapi.json").json()["paths"]
    assert app.http.get("/docs").status_code == 200


def test_tiling_makes_the_edges_continue_each_other(app):
    """Seamless: across the wrap-around (last column → first, bottom row → top) pixels
    change no more than between neighbours inside the picture; without it, more."""

    def wrap_over_neighbours(tiling: bool) -> float:
        job = app.wait(
            app.submit(
                prompt="a red circle", steps=10, seed=1, width=128, height=128, tiling=tiling
            )["id"]
        )
        assert job["status"] == "succeeded", job["error"]
        pixels = app.pixels(job).astype(float)
        wrap = np.abs(pixels[:, 0] - pixels[:, -1]).mean() + np.abs(pixels[0] - pixels[-1]).mean()
        inner = np.abs(np.diff(pixels, axis=1)).mean() + np.abs(np.diff(pixels, axis=0)).mean()
        return wrap / inner

    assert wrap_over_neighbours(True) < 1.2 < wrap_over_neighbours(False)
    job = app.wait(app.submit(prompt="x", steps=2, seed=1, width=64, height=64, tiling=True)["id"])
    assert "Tiling: True" in app.image(job["images"][0]["url"]).info["parameters"]
