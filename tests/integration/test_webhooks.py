"""Webhooks through the served app, to a real HTTP receiver on 127.0.0.1 (allowed by
`webhook_private_networks`): signed deliveries of a job's events, retries with backoff,
giving up, a board restart with deliveries pending, and refusals at submit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import ray
from standardwebhooks import Webhook

from novagenia.detached import NAMESPACE
from tests.served import TINY, served_app

pytestmark = pytest.mark.serve

KEY = "hooks-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
RETRY_FOR_S = 6.0


class Receiver:
    """Records every POST; answers 500 while `failing` is set."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.failing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append((self.path, dict(self.headers), body))
                self.send_response(500 if receiver.failing.is_set() else 204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def bodies(self, path: str) -> list[dict]:
        return [json.loads(body) for p, _, body in self.received if p == path]


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with served_app(
        tmp_path_factory.mktemp("data"),
        api_keys=[KEY],
        webhook_private_networks=["127.0.0.1/32"],
        webhook_retry_for_s=RETRY_FOR_S,
        preview_every_steps=0,
    ) as served:
        yield served


def submit(app, **fields) -> dict:
    body = {"prompt": "a red circle", "model": TINY, "width": 64, "height": 64, **fields}
    return app.http.post("/api/v1/jobs", json=body, headers=AUTH)


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def deliveries(app, job_id: str, settled: int, timeout: float = 60) -> list[dict]:
    """The job's deliveries once `settled` of them are no longer pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = app.http.get(f"/api/v1/jobs/{job_id}/deliveries").json()["deliveries"]
        if sum(d["status"] != "pending" for d in found) >= settled:
            return found
        time.sleep(0.1)
    raise TimeoutError(found)


def test_a_jobs_events_arrive_signed_with_its_keys_secret(app, receiver):
    events = ["queued", "started", "progress", "completed"]
    hook = {"url": receiver.url("/all"), "events": events}
    job = submit(app, steps=30, webhook=hook).json()
    assert app.wait(job["id"])["status"] == "succeeded"
    found = deliveries(app, job["id"], settled=4)
    assert [d["status"] for d in found] == ["delivered"] * len(found)
    kinds = [d["type"] for d in found]
    assert kinds[:2] == ["job.queued", "job.started"] and kinds[-1] == "job.completed"
    assert "job.progress" in kinds

    secret = app.http.get("/api/v1/webhooks/secret", headers=AUTH).json()["secret"]
    verifier = Webhook(secret)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    for _, headers, body in [r for r in receiver.received if r[0] == "/all"]:
        assert verifier.verify(body, headers)["data"]  # raises on a bad signature
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body.decode()}"
        mac = hmac.new(key, signed.encode(), hashlib.sha256).digest()
        assert headers["webhook-signature"] == "v1," + base64.b64encode(mac).decode()
    [completed] = [b for b in receiver.bodies("/all") if b["type"] == "job.completed"]
    assert completed["data"]["job"]["status"] == "succeeded"
    assert completed["data"]["job"]["images"][0]["url"].endswith("/0.png")
    assert app.http.get("/api/v1/webhooks/secret").status_code == 401


def test_failed_deliveries_are_retried_then_given_up(app, receiver):
    receiver.failing.set()
    try:
        job = submit(app, steps=2, webhook={"url": receiver.url("/flaky")}).json()
        wait_for(lambda: len(receiver.bodies("/flaky")) >= 2)  # the first try and a retry
    finally:
        receiver.failing.clear()
    [delivery] = deliveries(app, job["id"], settled=1)
    assert delivery["status"] == "delivered" and delivery["attempts"] >= 2
    assert len(receiver.bodies("/flaky")) == delivery["attempts"]
    ids = {h["webhook-id"] for p, h, _ in receiver.received if p == "/flaky"}
    assert ids == {delivery["id"]}  # every try carries the same id

    receiver.failing.set()
    try:
        doomed = submit(app, steps=2, webhook={"url": receiver.url("/down")}).json()
        [given_up] = deliveries(app, doomed["id"], settled=1, timeout=RETRY_FOR_S + 30)
    finally:
        receiver.failing.clear()
    assert given_up["status"] == "failed" and given_up["response_status"] == 500
    assert given_up["attempts"] == len(receiver.bodies("/down")) >= 3


def test_pending_deliveries_survive_a_board_restart(app, receiver):
    receiver.failing.set()
    job = submit(app, steps=2, webhook={"url": receiver.url("/restart")}).json()
    assert app.wait(job["id"])["status"] == "succeeded"
    wait_for(lambda: receiver.bodies("/restart"))
    ray.kill(ray.get_actor(app.args.board_name, namespace=NAMESPACE), no_restart=False)
    receiver.failing.clear()
    # Nothing calls the restarted board meanwhile: it resumes its deliveries by itself.
    tries = len(receiver.bodies("/restart"))
    wait_for(lambda: len(receiver.bodies("/restart")) > tries, timeout=20)
    [delivery] = deliveries(app, job["id"], settled=1)
    assert delivery["status"] == "delivered"
    assert receiver.bodies("/restart")[-1]["data"]["job"]["id"] == job["id"]


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.5/hook", "http://169.254.169.254/", "http://[::1]:9/x", "ftp://x.org/"],
)
def test_webhook_urls_into_the_network_are_refused_at_submit(app, url):
    refused = submit(app, webhook={"url": url})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "webhook"]
