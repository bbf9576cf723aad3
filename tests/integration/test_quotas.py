"""Quotas through the served app with two API keys: most queued jobs and most images a
minute per key, 429 with Retry-After (in the OpenAI shape on its route), and the other
key unaffected."""

from __future__ import annotations

import hashlib

import openai
import pytest

from tests.served import TINY, served_app

pytestmark = pytest.mark.serve

ALPHA, BETA = "alpha-quota-key", "beta-quota-key"


def label(key: str) -> str:
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with served_app(
        tmp_path_factory.mktemp("data"),
        api_keys=[ALPHA, BETA],
        default_model=TINY,
        max_batch_jobs=1,
        preview_every_steps=0,
        quota={"max_queued_jobs": 2},
        quota_by_user={label(BETA): {"images_per_minute": 3}},
    ) as served:
        yield served


def post(app, key: str, **fields):
    body = {"prompt": "a red circle", "model": TINY, "width": 64, "height": 64, **fields}
    return app.http.post("/api/v1/jobs", json=body, headers={"Authorization": f"Bearer {key}"})


def test_a_key_may_queue_so_many_jobs_and_ask_for_so_many_images(app):
    blocker = post(app, ALPHA, steps=150, width=256, height=256).json()
    app.wait_status(blocker["id"], "running")
    queued = [post(app, ALPHA, steps=2) for _ in range(2)]
    assert [r.status_code for r in queued] == [202, 202]
    refused = post(app, ALPHA, steps=2)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "5"
    assert "2 jobs queued already" in refused.json()["detail"]
    assert queued[0].json()["owner"] == label(ALPHA)

    assert post(app, BETA, steps=2, batch_size=2).status_code == 202  # its own quota
    over = post(app, BETA, steps=2, batch_size=2)
    assert over.status_code == 429 and 1 <= int(over.headers["retry-after"]) <= 60
    assert "this key may ask for 3" in over.json()["detail"]
    client = openai.OpenAI(base_url=app.base_url + "/v1", api_key=BETA, max_retries=0)
    with pytest.raises(openai.RateLimitError) as raised:
        client.images.generate(model=TINY, prompt="x", n=2, size="64x64", extra_body={"steps": 2})
    assert raised.value.code == "rate_limit_exceeded"

    app.http.delete(f"/api/v1/jobs/{blocker['id']}", headers={"Authorization": f"Bearer {ALPHA}"})
    for job in queued:
        assert app.wait(job.json()["id"])["status"] == "succeeded"
    assert post(app, ALPHA, steps=2).status_code == 202  # room again
