"""Every sampler a model offers works at any step count, in any order of jobs, batched or
not, and draws what the prompt says (judged by pixels on the trained embedded model)."""

from __future__ import annotations

import pytest

from novagenia.embedded import TINY_RANDOM, TINY_SHAPES
from novagenia.embedded.shapes import judge, prompt_for
from tests.served import served_app

STEP_ORDER = (20, 25, 13)  # a multistep scheduler reused from 20 to 25 steps overran
CASES = [("red", "circle", "blue"), ("yellow", "square", "black"), ("white", "triangle", "green")]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with served_app(tmp_path_factory.mktemp("data"), max_batch_jobs=4) as served:
        yield served


def offered(app, model: str) -> list[str]:
    models = {m["id"]: m for m in app.http.get("/api/v1/models").json()["models"]}
    return models[model]["samplers"]


def test_trained_model_offers_the_samplers_that_follow_its_schedule(app):
    # tiny-shapes is zero-terminal-SNR (v-prediction): only schedulers that implement the
    # rescale follow it, Karras sigmas are unbounded there, and it is not LCM-distilled.
    assert offered(app, TINY_SHAPES) == ["euler", "euler_a", "dpmpp_2m", "unipc", "ddim"]
    assert "lcm" not in offered(app, TINY_RANDOM)


@pytest.mark.parametrize("model", [TINY_SHAPES, TINY_RANDOM])
def test_a_sampler_that_does_not_apply_is_a_clear_422(app, model):
    response = app.http.post(
        "/api/v1/jobs", json={"prompt": "a red circle", "model": model, "sampler": "lcm"}
    )
    assert response.status_code == 422
    message = response.json()["detail"][0]["msg"]
    assert "does not apply" in message and "euler_a" in message


def test_every_offered_sampler_draws_the_prompt_at_any_step_count(app):
    """For each sampler: one job per step count in STEP_ORDER, then a batch of three
    (batch_size 3); every picture is judged."""
    judged: list[tuple[str, int, tuple, tuple]] = []  # sampler, steps, wanted, seen
    for sampler in offered(app, TINY_SHAPES):
        jobs = []
        for steps, case in zip(STEP_ORDER, CASES, strict=True):
            job = app.submit(**shapes_request(case, sampler, steps=steps, seed=7))
            jobs.append(([case], app.wait(job["id"])))  # one after another: order matters
        batch = app.submit(**shapes_request(CASES[0], sampler, steps=20, seed=11, batch_size=3))
        jobs.append(([CASES[0]] * 3, app.wait(batch["id"])))
        for cases, job in jobs:
            assert job["status"] == "succeeded", (sampler, job["error"])
            for index, (colour, shape, background) in enumerate(cases):
                seen = judge(app.image(job["images"][index]["url"]))
                wanted = (background, colour, shape)
                judged.append((sampler, job["request"]["steps"], wanted, seen))
    # The quality bench's tolerance (model card: 96-100 % shapes per sampler): background
    # and shape colour always right, at most one shape wrong in all pictures.
    assert all(seen[:2] == wanted[:2] for _, _, wanted, seen in judged), judged
    assert sum(seen != wanted for _, _, wanted, seen in judged) <= 1, judged


def shapes_request(case: tuple[str, str, str], sampler: str, **settings) -> dict:
    return {
        "model": TINY_SHAPES,
        "prompt": prompt_for(*case),
        "sampler": sampler,
        "guidance_scale": 6.0,
        **settings,
    }


def test_every_sampler_of_a_classic_schedule_runs_at_any_step_count(app):
    """tiny-random has the classic SD schedule, so it offers every sampler but LCM: each
    one runs 20, 25 and 13 steps in that order on the same replica."""
    for sampler in offered(app, TINY_RANDOM):
        for count in STEP_ORDER:
            job = app.wait(
                app.submit(
                    model=TINY_RANDOM, prompt="x", sampler=sampler, steps=count, width=64, height=64
                )["id"]
            )
            assert job["status"] == "succeeded", (sampler, count, job["error"])
