"""The compiled fast path (engine/fastpath.py) keeps LoRA jobs right: fused QKV attention
goes back to the separate projections the adapters wrap, on a compiled denoiser too.
Compiled with torch's "eager" backend: the same graph capture and guards as Inductor,
without a minute of kernel compilation on the CPU."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from novagenia.embedded.random_tiny import build_tiny_random_pipeline
from novagenia.engine.adapters import LoraAdapters
from novagenia.engine.fastpath import compile_pipeline, fuse_qkv
from novagenia.loras.library import LoraLibrary
from tests.loras.test_adapters import draw


@pytest.fixture(scope="module")
def library(tmp_path_factory, lora_files):
    root = tmp_path_factory.mktemp("loras")
    shutil.copy(lora_files["style"], root / "style.safetensors")
    return LoraLibrary(root)


def pipeline_with(library, prepare) -> tuple:
    pipeline = build_tiny_random_pipeline()
    pipeline.set_progress_bar_config(disable=True)
    prepare(pipeline)
    return pipeline, LoraAdapters(library, max_per_pipeline=2)


@pytest.mark.parametrize(
    "prepare",
    [
        pytest.param(lambda p: fuse_qkv(p.unet), id="fused"),
        pytest.param(lambda p: compile_pipeline(p, [1], backend="eager"), id="compiled"),
    ],
)
def test_lora_applies_on_the_fast_path_as_on_the_plain_one(library, prepare):
    plain = pipeline_with(library, lambda p: None)
    fast = pipeline_with(library, prepare)
    assert np.abs(draw(fast) - draw(plain)).max() <= 2  # fused matmuls round differently
    with_lora = draw(plain, ("style", 1.0))
    assert np.abs(with_lora - draw(plain)).max() > 20
    assert np.abs(draw(fast, ("style", 1.0)) - with_lora).max() <= 2
    assert np.abs(draw(fast) - draw(plain)).max() <= 2  # and back to the base model
    unet = fast[0].unet
    assert not any(hasattr(m, "to_qkv") or hasattr(m, "to_kv") for m in unet.modules())


def test_compiling_keeps_the_denoiser_class_and_warms_up(library):
    pipeline, _ = pipeline_with(library, lambda p: None)
    unet_class = type(pipeline.unet)
    calls = []
    pipeline.unet.register_forward_pre_hook(lambda module, args: calls.append(len(args[0])))
    compile_pipeline(pipeline, [1, 2], backend="eager")
    assert type(pipeline.unet) is unet_class  # what LoRA loading looks for
    assert pipeline.unet._compiled_call_impl is not None
    assert calls == [2, 2, 4, 4]  # two warm-up steps per batch size, CFG doubles the batch
