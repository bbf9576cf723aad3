"""Live previews look like the picture they lead to: each VAE's latent→RGB projection is
fitted when its model loads."""

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
from novagenia.jobs.schemas import GenerationRequest, Job, JobStatus

CASES = [("red", "circle", "blue"), ("yellow", "square", "black"), ("white", "triangle", "green")]


@pytest.fixture(scope="module")
def loaded():
    plan = DevicePlan.for_replica(0, "auto", cpu_threads=1)
    return load_pipeline(TINY_SHAPES, EMBEDDED_DIR / "tiny-shapes", plan)


def last_latents_and_images(loaded) -> tuple[torch.Tensor, list[Image.Image]]:
    jobs = [
        Job(
            id=f"j{i}",
            status=JobStatus.running,
            request=GenerationRequest(
                prompt=prompt_for(*case),
                model=TINY_SHAPES,
                seed=1,
                width=64,
                height=64,
                steps=20,
                guidance_scale=6.0,
            ),
            model=TINY_SHAPES,
            priority=0,
            created_at=0,
        )
        for i, case in enumerate(CASES)
    ]
    seen: dict[int, torch.Tensor] = {}
    images = generate(
        loaded.pipeline,
        BatchPlan.from_jobs(jobs),
        lambda step, latents: seen.__setitem__(step, latents.clone()),
        loaded.scheduler_config,
    )
    return seen[max(seen)], images


def test_the_preview_at_the_last_step_resembles_the_final_picture(loaded):
    """Same background, and closer to its own picture than to the others of the batch (the
    fixed SD 1.x matrix drew noise here: a mean difference of ~126 of 255)."""
    assert loaded.previews is not None and loaded.previews.channels == 4
    latents, images = last_latents_and_images(loaded)
    finals = [np.asarray(image, float) for image in images]
    for index, (case, latent) in enumerate(zip(CASES, latents, strict=True)):
        preview = loaded.previews.preview(latent).resize(images[index].size, Image.BILINEAR)
        assert judge(preview)[0] == judge(images[index])[0] == case[2]
        differences = [np.abs(np.asarray(preview, float) - final).mean() for final in finals]
        assert differences[index] == min(differences) and differences[index] < 60, differences


def test_a_latent_of_another_channel_count_gets_no_preview(loaded):
    assert loaded.previews.preview(torch.zeros(16, 8, 8)) is None
