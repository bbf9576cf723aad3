"""Nobody in uninvited: API keys (writes and, here, reads), CORS, size limits, hostile
names, and backpressure at the queue limit."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.served import TINY, served_app

pytestmark = pytest.mark.serve

KEY = "s3cret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
ALLOWED_ORIGIN = "http://studio.example"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with served_app(
        tmp_path_factory.mktemp("data"),
        api_keys=[KEY],
        auth_reads=True,
        cors_origins=[ALLOWED_ORIGIN],
        max_queue_length=3,
        max_request_bytes=4096,
        max_batch_jobs=1,
    ) as served:
        served.http.headers.update(AUTH)
        yield served


@pytest.fixture
def anonymous(app):
    with httpx.Client(base_url=app.base_url, timeout=30) as client:
        yield client


def test_writes_need_the_key(app, anonymous):
    body = {"prompt": "x", "steps": 1, "model": TINY}
    assert anonymous.post("/api/v1/jobs", json=body).status_code == 401
    wrong = anonymous.post("/api/v1/jobs", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    job = app.submit(prompt="x", steps=1)
    assert anonymous.delete(f"/api/v1/jobs/{job['id']}").status_code == 401
    assert anonymous.patch(f"/api/v1/jobs/{job['id']}", json={"priority": 2}).status_code == 401
    assert app.wait(job["id"])["user"].startswith("key-")


def test_reads_need_the_key_when_configured_but_health_does_not(app, anonymous):
    assert anonymous.get("/api/v1/jobs").status_code == 401
    assert anonymous.get("/api/v1/queue").status_code == 401
    assert anonymous.get("/api/v1/health").status_code == 200
    assert app.http.get("/api/v1/jobs").status_code == 200


def test_websocket_takes_the_key_as_query_or_first_message(app):
    job = app.wait(app.submit(prompt="x", steps=1)["id"])

    async def first_event(url: str, hello: dict | None = None) -> dict:
        async with websockets.connect(url) as socket:
            if hello is not None:
                await socket.send(json.dumps(hello))
            return json.loads(await asyncio.wait_for(socket.recv(), 30))

    url = f"{app.ws_url}?jobs={job['id']}"
    assert asyncio.run(first_event(f"{url}&api_key={KEY}"))["type"] == "succeeded"
    assert asyncio.run(first_event(url, {"api_key": KEY}))["type"] == "succeeded"
    with pytest.raises(websockets.ConnectionClosed) as closed:
        asyncio.run(first_event(url, {"api_key": "wrong"}))
    assert closed.value.rcvd.code == 1008


def test_cors_allows_only_configured_origins(app):
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    allowed = app.http.options("/api/v1/jobs", headers={"Origin": ALLOWED_ORIGIN, **preflight})
    assert allowed.headers.get("access-control-allow-origin") == ALLOWED_ORIGIN
    other = app.http.options("/api/v1/jobs", headers={"Origin": "http://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers


def test_oversized_bodies_get_413(app):
    huge = {"prompt": "x" * 5000, "model": TINY}
    assert app.http.post("/api/v1/jobs", json=huge).status_code == 413

    def chunks():
        yield b'{"prompt": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    streamed = app.http.post(
        "/api/v1/jobs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/images/..%2F..%2Fjobs.sqlite3/0.png",
        "/api/v1/images/%2Fetc%2Fpasswd/0.png",
        "/api/v1/images/abc%00def/0.png",
        "/api/v1/images/ａｂｃ/0.png",
        "/api/v1/images/abc/..%2F0.png",
        "/api/v1/images/abc/0.png%00.txt",
    ],
)
def test_image_route_serves_only_what_the_store_owns(app, path):
    assert app.http.get(path).status_code == 404


@pytest.mark.parametrize(
    "model", ["../../etc", "/abs/path", "a/b/c", "ｍｏｄｅｌ", "x\u0000y", ".hidden/m"]
)
def test_model_names_are_checked(app, model):
    response = app.http.post("/api/v1/jobs", json={"prompt": "x", "model": model})
    assert response.status_code == 422


def test_full_queue_answers_503_with_retry_after(app):
    blocker = app.submit(prompt="busy", steps=60, width=192, height=192)
    app.wait_status(blocker["id"], "running")
    queued = [app.submit(prompt=f"q{i}", steps=1) for i in range(3)]
    refused = app.http.post("/api/v1/jobs", json={"prompt": "one too many", "model": TINY})
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) > 0
    for job in [blocker, *queued]:
        app.http.delete(f"/api/v1/jobs/{job['id']}")
    assert (
        app.http.post(
            "/api/v1/jobs", json={"prompt": "room again", "model": TINY, "steps": 1}
        ).status_code
        == 202
    )
