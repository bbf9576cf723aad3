"""`Idempotency-Key` on POST /api/v1/jobs through the served app: two ingress replicas
behind Serve's proxy, two API keys, and a board killed and restarted in between."""

from __future__ import annotations

import pytest
import ray

from novagenia.detached import NAMESPACE
from tests.served import TINY, served_app

pytestmark = pytest.mark.serve

ALPHA, BETA = "alpha-key", "beta-key"
JOB = {"prompt": "a red circle", "model": TINY, "steps": 2, "width": 64, "height": 64}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with served_app(
        tmp_path_factory.mktemp("data"), api_keys=[ALPHA, BETA], ingress_replicas=2
    ) as served:
        yield served


def post(app, body: dict, key: str | None, api_key: str = ALPHA):
    headers = {"Authorization": f"Bearer {api_key}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return app.http.post("/api/v1/jobs", json=body, headers=headers)


def prompts(app) -> list[str]:
    return [job["request"]["prompt"] for job in app.http.get("/api/v1/jobs").json()["jobs"]]


def test_a_retried_submit_is_one_job_across_replicas_and_a_board_restart(app):
    first = post(app, JOB, "order-1")
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    job_id = first.json()["id"]
    for _ in range(6):  # through either ingress replica
        again = post(app, {**JOB, "width": 64}, "order-1")
        assert again.status_code == 202, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == job_id
    assert app.wait(job_id)["status"] == "succeeded"

    ray.kill(ray.get_actor(app.args.board_name, namespace=NAMESPACE), no_restart=False)
    after = post(app, JOB, "order-1")
    assert after.status_code == 202, after.text
    assert after.json()["id"] == job_id and after.json()["status"] == "succeeded"
    assert prompts(app).count(JOB["prompt"]) == 1


def test_the_same_key_with_another_body_is_a_409(app):
    assert post(app, {**JOB, "prompt": "a blue square"}, "order-2").status_code == 202
    refused = post(app, {**JOB, "prompt": "a green star"}, "order-2")
    assert refused.status_code == 409
    assert "came before with another request" in refused.json()["detail"]
    assert "a green star" not in prompts(app)


def test_keys_belong_to_their_api_key_and_bad_keys_are_refused(app):
    mine = post(app, {**JOB, "prompt": "shared key"}, "order-3").json()["id"]
    theirs = post(app, {**JOB, "prompt": "shared key"}, "order-3", api_key=BETA).json()["id"]
    assert mine != theirs
    assert post(app, JOB, "has space").status_code == 422
    assert post(app, JOB, "x" * 256).status_code == 422
    unkeyed = [post(app, {**JOB, "prompt": "no key"}, None).json()["id"] for _ in range(2)]
    assert unkeyed[0] != unkeyed[1]
