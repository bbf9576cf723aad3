"""Single-file checkpoints (original LDM layout, the way SD 1.x and SDXL checkpoints are
shared) load into the right pipeline with their own weights: a tiny pipeline written as
one file draws exactly what the pipeline draws, and not what the base repo whose configs
the loader reads (a local copy with other weights) would."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from novagenia.embedded.random_tiny import build_tiny_random_pipeline
from novagenia.engine.device import DevicePlan
from novagenia.engine.pipelines import load_pipeline
from novagenia.models import ModelRegistry
from tests.single_file import write_single_file
from tests.tiny_families import build_sdxl

SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SDXL = "stabilityai/stable-diffusion-xl-base-1.0"


def sdxl_as_checkpoints_have_it():
    """diffusers tells SDXL by a tenth OpenCLIP layer, and its two text encoders apart
    by their widths."""
    return build_sdxl(text_dim_2=48, text_layers_2=10)


def draw(pipeline, size: int) -> np.ndarray:
    image = pipeline(
        "a red circle",
        width=size,
        height=size,
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(3),
    ).images[0]
    return np.asarray(image, dtype=np.int16)


@pytest.mark.parametrize(
    ("base", "build", "pipeline_class", "size"),
    [
        (SD15, build_tiny_random_pipeline, "StableDiffusionPipeline", 64),
        (SDXL, sdxl_as_checkpoints_have_it, "StableDiffusionXLPipeline", 64),
    ],
    ids=["sd15", "sdxl"],
)
def test_a_single_file_checkpoint_draws_with_its_own_weights(
    tmp_path, base, build, pipeline_class, size
):
    models = tmp_path / "models"
    base_repo = build()  # the configs the loader reads, with other weights
    with torch.no_grad():
        for weight in base_repo.unet.parameters():
            weight.add_(torch.randn_like(weight) * 0.05)
    base_repo.save_pretrained(models / base, safe_serialization=True)
    original = build()
    original.set_progress_bar_config(disable=True)
    write_single_file(original, models / "acme" / "merged.safetensors")

    info = ModelRegistry(models).get("acme/merged")
    assert info.single_file and info.pipeline_class == pipeline_class
    plan = DevicePlan.for_replica(0, "auto", cpu_threads=1)
    loaded = load_pipeline("acme/merged", info.path, plan, models)
    assert type(loaded.pipeline).__name__ == pipeline_class
    base_copy = load_pipeline(base, models / base, plan)

    pixels = draw(loaded.pipeline, size)
    assert np.abs(pixels - draw(original, size)).max() <= 1
    assert np.abs(pixels - draw(base_copy.pipeline, size)).mean() > 5
