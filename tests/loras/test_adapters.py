"""Applying LoRA sets to a real (tiny) pipeline: weights, mixing, switching back to the
base model, files that do not fit, the adapter cache."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from novagenia.embedded.random_tiny import build_tiny_random_pipeline
from novagenia.engine.adapters import LoraAdapters, LoraError
from novagenia.jobs.schemas import LoraRef
from novagenia.loras.library import LoraLibrary
from tests.lora_files import lora_layers, write_lora

MODEL = "novagenia/tiny-random"


@pytest.fixture(scope="module")
def setup(tmp_path_factory, lora_files):
    root = tmp_path_factory.mktemp("loras")
    for name in ("style", "detail", "shapes", "wide"):
        shutil.copy(lora_files[name], root / f"{name}.safetensors")
    pipeline = build_tiny_random_pipeline()
    pipeline.set_progress_bar_config(disable=True)
    return pipeline, LoraAdapters(LoraLibrary(root), max_per_pipeline=3)


def draw(setup, *loras: tuple[str, float]) -> np.ndarray:
    pipeline, adapters = setup
    adapters.activate(pipeline, MODEL, [LoraRef(name=n, weight=w) for n, w in loras])
    generator = torch.Generator().manual_seed(7)
    image = pipeline(
        "a red circle", width=64, height=64, num_inference_steps=2, generator=generator
    ).images[0]
    return np.asarray(image).astype(int)


def held(setup) -> list[str]:
    pipeline, adapters = setup
    return list(adapters._held[pipeline].values())


def test_weights_mixing_and_switching_back(setup):
    base = draw(setup)
    assert np.array_equal(draw(setup, ("style", 0.0)), base)
    plain = draw(setup, ("style", 1.0))
    assert np.abs(plain - base).max() > 20
    half = draw(setup, ("style", 0.5))
    assert not np.array_equal(half, plain) and not np.array_equal(half, base)
    other = draw(setup, ("detail", 1.0))
    mixed = draw(setup, ("style", 1.0), ("detail", 1.0))
    assert not np.array_equal(mixed, plain) and not np.array_equal(mixed, other)
    assert np.array_equal(draw(setup), base)  # a plain job after LoRA jobs
    assert np.array_equal(draw(setup, ("style", 1.0)), plain)  # cached adapter, same pixels


def test_kohya_file_applies(setup):
    base = draw(setup)
    assert np.abs(draw(setup, ("shapes", 1.0)) - base).max() > 20
    assert np.array_equal(draw(setup), base)


def test_lora_for_another_architecture_fails_and_leaves_the_pipeline_clean(setup):
    pipeline, _ = setup
    base = draw(setup)
    plain = draw(setup, ("style", 1.0))
    with pytest.raises(LoraError, match="LoRA 'wide' does not fit model 'novagenia/tiny-random'"):
        draw(setup, ("wide", 1.0))
    assert "wide" not in held(setup)
    assert all(len(names) <= 3 for names in pipeline.get_list_adapters().values())
    assert np.array_equal(draw(setup), base)
    assert np.array_equal(draw(setup, ("style", 1.0)), plain)


def test_missing_lora_fails_clearly(setup):
    with pytest.raises(LoraError, match="LoRA 'nope' is not in the library"):
        draw(setup, ("nope", 1.0))


def test_cache_is_bounded_and_reloads_replaced_files(setup, tmp_path):
    pipeline, adapters = setup
    for name in ("style", "detail", "shapes"):
        draw(setup, (name, 1.0))
    draw(setup, ("style", 1.0))  # most recently used now
    assert held(setup)[-1] == "style" and len(held(setup)) == 3
    before = draw(setup, ("detail", 1.0))
    replaced = write_lora(tmp_path / "new.safetensors", seed=99, text_encoder=False)
    shutil.copy(replaced, adapters.library.root / "detail.safetensors")
    after = draw(setup, ("detail", 1.0))
    assert not np.array_equal(before, after)
    assert held(setup).count("detail") == 1
    assert all(len(names) <= 3 for names in pipeline.get_list_adapters().values())


def test_lora_whose_unet_part_matches_nothing_fails(setup, tmp_path):
    """A file for another family (here its denoiser keys say `transformer.`) whose text
    encoder part would fit: diffusers only warns, the job must fail instead."""
    _, adapters = setup
    layers = lora_layers(seed=21)
    state = {f"transformer.{k}": v for k, v in layers["unet"].items()}
    state.update({f"text_encoder.{k}": v for k, v in layers["text_encoder"].items()})
    save_file(state, str(adapters.library.root / "foreign.safetensors"))
    base = draw(setup)
    with pytest.raises(LoraError, match="'foreign' does not fit .*UNet/transformer layers match"):
        draw(setup, ("foreign", 1.0))
    assert "foreign" not in held(setup)
    assert np.array_equal(draw(setup), base)
