"""`speed: fast`: attention is reused in the middle of the schedule, the picture stays the
one asked for, and a `quality` call afterwards runs the untouched model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from novagenia.embedded import EMBEDDED_DIR, TINY_SHAPES
from novagenia.embedded.shapes import judge, prompt_for
from novagenia.engine.device import DevicePlan
from novagenia.engine.generate import BatchPlan, generate
from novagenia.engine.pipelines import load_pipeline
from novagenia.engine.step_cache import StepCacheUnavailable, attached_layers, step_cache
from novagenia.jobs.schemas import GenerationRequest, Job, JobStatus

CASES = [("red", "circle", "blue"), ("yellow", "square", "black"), ("white", "triangle", "green")]
STEPS = 20


@pytest.fixture(scope="module")
def loaded():
    plan = DevicePlan.for_replica(0, "auto", cpu_threads=1)
    return load_pipeline(TINY_SHAPES, EMBEDDED_DIR / "tiny-shapes", plan)


def draw(loaded, speed: str) -> list[np.ndarray]:
    jobs = [
        Job(
            id=f"j{i}",
            status=JobStatus.running,
            request=GenerationRequest(
                prompt=prompt_for(*case),
                model=TINY_SHAPES,
                seed=3,
                width=64,
                height=64,
                steps=STEPS,
                guidance_scale=6.0,
                speed=speed,
            ),
            model=TINY_SHAPES,
            priority=0,
            created_at=0,
        )
        for i, case in enumerate(CASES)
    ]
    images = generate(
        loaded.pipeline,
        BatchPlan.from_jobs(jobs),
        lambda step, latents: None,
        loaded.scheduler_config,
    )
    return [np.asarray(image.convert("RGB"), dtype=np.int16) for image in images]


class CountedProcessor:
    """Counts the attention computations of one layer."""

    def __init__(self, processor):
        self.processor, self.calls = processor, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.processor(*args, **kwargs)


def test_fast_reuses_attention_and_draws_the_same_pictures(loaded):
    attention = loaded.pipeline.unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1
    counted = CountedProcessor(attention.processor)
    attention.set_processor(counted)
    try:
        before = draw(loaded, "quality")
        full_calls, counted.calls = counted.calls, 0
        fast = draw(loaded, "fast")
        fast_calls, counted.calls = counted.calls, 0
        after = draw(loaded, "quality")
    finally:
        attention.set_processor(counted.processor)
    assert full_calls == STEPS
    # Steps 6…18 of 20 lie in the reuse window; the odd-numbered ones of the call's
    # count (6, 8, …, 18 here, 1-based) reuse: 7 fewer computations.
    assert fast_calls == STEPS - 7
    assert all((a == b).all() for a, b in zip(before, after, strict=True))
    assert attached_layers(loaded.pipeline.unet) == 0
    for case, full, quick in zip(CASES, before, fast, strict=True):
        assert np.abs(full - quick).mean() > 0  # it did change something
        assert np.abs(full - quick).mean() < 12  # …but not the picture
        assert judge_array(quick) == (case[2], case[0], case[1])


def judge_array(pixels: np.ndarray) -> tuple[str, str, str]:
    return judge(Image.fromarray(pixels.astype(np.uint8)))


def test_a_model_without_attention_layers_is_refused_and_left_as_it_was():
    model = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3))
    with pytest.raises(StepCacheUnavailable, match="does not apply"), step_cache(model, STEPS):
        pass
    assert attached_layers(model) == 0
