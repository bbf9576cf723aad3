"""`model_memory` in the config reaches the replica: a model configured with int8 weights
is served quantized (its pictures are the int8 pipeline's, not the float one's) and still
draws what the prompt says."""

from __future__ import annotations

import numpy as np
import pytest

from novagenia.config import MemoryPlan
from novagenia.embedded import EMBEDDED_DIR, TINY_SHAPES
from novagenia.embedded.shapes import judge, prompt_for
from novagenia.engine.device import DevicePlan
from novagenia.engine.generate import BatchPlan, generate
from novagenia.engine.pipelines import load_pipeline
from novagenia.jobs.schemas import GenerationRequest, Job, JobStatus
from tests.served import TINY, served_app

pytestmark = pytest.mark.serve

INT8 = {"quantize": "int8", "vae_slicing": True}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with served_app(
        tmp_path_factory.mktemp("data"), preview_every_steps=0, model_memory={TINY_SHAPES: INT8}
    ) as served:
        yield served


def direct_pixels(job: dict, memory: MemoryPlan) -> np.ndarray:
    """The served job's resolved request drawn by a pipeline loaded here."""
    plan = DevicePlan.for_replica(0, "auto", cpu_threads=1)
    loaded = load_pipeline(TINY_SHAPES, EMBEDDED_DIR / "tiny-shapes", plan, memory=memory)
    request = GenerationRequest(**job["request"])
    batch = BatchPlan.from_jobs(
        [
            Job(
                id="d",
                status=JobStatus.running,
                request=request,
                model=TINY_SHAPES,
                priority=0,
                created_at=0,
            )
        ]
    )
    image = generate(loaded.pipeline, batch, lambda step, latents: None, loaded.scheduler_config)[0]
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_a_model_configured_int8_is_served_quantized(app):
    job = app.wait(
        app.submit(
            model=TINY_SHAPES,
            prompt=prompt_for("red", "circle", "blue"),
            width=64,
            height=64,
            seed=5,
            guidance_scale=6.0,
        )["id"]
    )
    assert job["status"] == "succeeded", job["error"]
    assert judge(app.image(job["images"][0]["url"])) == ("blue", "red", "circle")
    served = app.pixels(job).astype(np.int16)
    int8 = np.abs(served - direct_pixels(job, MemoryPlan(**INT8))).max()
    full = np.abs(served - direct_pixels(job, MemoryPlan())).max()
    assert int8 <= 1 < full, (int8, full)


def test_models_list_says_how_each_model_is_held(app):
    listed = {m["id"]: m["memory"] for m in app.http.get("/api/v1/models").json()["models"]}
    assert listed[TINY_SHAPES] == {**MemoryPlan().model_dump(), **INT8}
    assert listed[TINY] == MemoryPlan().model_dump()
