"""Memory plans (engine/memory.py): int8 weights keep the trained model drawing what the
prompt says and LoRAs applying; VAE slicing and tiling follow the plan; plans are chosen
per model from the config."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from novagenia.config import AppArgs, MemoryPlan
from novagenia.embedded import EMBEDDED_DIR, TINY_SHAPES
from novagenia.embedded.random_tiny import build_tiny_random_pipeline
from novagenia.engine.adapters import LoraAdapters
from novagenia.engine.device import DevicePlan
from novagenia.engine.memory import (
    offloaded,
    place_pipeline,
    quantize_denoiser,
    tensor_bytes,
    weight_bytes,
)
from novagenia.engine.pipelines import load_pipeline
from novagenia.loras.library import LoraLibrary
from tests.engine.test_step_cache import CASES, draw, judge_array
from tests.loras.test_adapters import draw as draw_with_loras

CPU = DevicePlan.for_replica(0, "auto", cpu_threads=1)


def linear_weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in module.modules() if isinstance(m, torch.nn.Linear)]


def test_int8_stores_the_denoisers_linear_weights_in_a_quarter_and_draws_the_same():
    plain = load_pipeline(TINY_SHAPES, EMBEDDED_DIR / "tiny-shapes", CPU)
    small = load_pipeline(
        TINY_SHAPES, EMBEDDED_DIR / "tiny-shapes", CPU, memory=MemoryPlan(quantize="int8")
    )
    linear_plain = sum(tensor_bytes(w) for w in linear_weights(plain.pipeline.unet))
    linear_small = sum(tensor_bytes(w) for w in linear_weights(small.pipeline.unet))
    assert linear_small < 0.3 * linear_plain  # int8 data plus a float scale per row
    assert weight_bytes(small.pipeline.unet) < weight_bytes(plain.pipeline.unet)
    assert weight_bytes(small.pipeline.text_encoder) == weight_bytes(plain.pipeline.text_encoder)
    for quantized, original in zip(draw(small, "quality"), draw(plain, "quality"), strict=True):
        assert 0 < np.abs(quantized - original).max() <= 40
        assert np.abs(quantized - original).mean() < 2
    for pixels, case in zip(draw(small, "quality"), CASES, strict=True):
        assert judge_array(pixels) == (case[2], case[0], case[1])


def test_loras_apply_to_an_int8_denoiser(tmp_path, lora_files):
    shutil.copy(lora_files["style"], tmp_path / "style.safetensors")
    library = LoraLibrary(tmp_path)

    def setup(quantized: bool):
        pipeline = build_tiny_random_pipeline()
        pipeline.set_progress_bar_config(disable=True)
        if quantized:
            quantize_denoiser(pipeline)
        return pipeline, LoraAdapters(library, max_per_pipeline=2)

    plain, small = setup(False), setup(True)
    base = draw_with_loras(small)
    styled = draw_with_loras(small, ("style", 1.0))
    assert np.abs(styled - base).mean() > 20
    assert np.abs(styled - draw_with_loras(plain, ("style", 1.0))).mean() < 6
    assert np.array_equal(draw_with_loras(small), base)  # and back to the base model


def test_vae_slicing_and_tiling_follow_the_plan_and_offload_is_for_cuda():
    pipeline = build_tiny_random_pipeline()
    plan = MemoryPlan(offload="model", vae_slicing=True, vae_tiling=False)
    place_pipeline(pipeline, "cpu", plan)
    assert not offloaded(plan, "cpu") and offloaded(plan, "cuda")  # on the CPU: host memory
    assert pipeline.vae.use_slicing and not pipeline.vae.use_tiling
    assert not hasattr(pipeline.unet, "_hf_hook")
    place_pipeline(pipeline, "cpu", MemoryPlan())
    assert pipeline.vae.use_tiling


def test_memory_plans_are_chosen_per_model_first_match_first():
    args = AppArgs(
        model_memory={
            "acme/big": {"quantize": "int8", "offload": "group"},
            "acme/*": {"vae_slicing": True},
        }
    )
    assert args.memory_plan("acme/big") == MemoryPlan(quantize="int8", offload="group")
    assert args.memory_plan("acme/small") == MemoryPlan(vae_slicing=True)
    assert args.memory_plan("other/model") == MemoryPlan()


@pytest.mark.parametrize("plan", [{"quantize": "int4"}, {"offload": "disk"}, {"vae_tiles": True}])
def test_unknown_memory_settings_fail_at_start(plan):
    with pytest.raises(ValidationError):
        AppArgs(model_memory={"*": plan})
