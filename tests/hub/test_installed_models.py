"""Installed models beyond diffusers dirs: single-file checkpoints (recognised by their
keys, configs resolved locally first) and deletion."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers.loaders.single_file_utils import CHECKPOINT_KEY_NAMES
from safetensors.torch import save_file

from novagenia.embedded import TINY_RANDOM
from novagenia.engine.pipelines import single_file_config
from novagenia.models import ModelNotDeletable, ModelNotFound, ModelRegistry

SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SDXL = "stabilityai/stable-diffusion-xl-base-1.0"


def write_checkpoint(path: Path, tensors: dict[str, torch.Tensor]) -> Path:
    """A checkpoint with the keys (and key shapes) that tell SD families apart."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, path)
    return path


@pytest.fixture
def models_dir(tmp_path) -> Path:
    attn = CHECKPOINT_KEY_NAMES["v2"]  # its width tells SD 1.x (768) from 2.x (1024)
    write_checkpoint(
        tmp_path / "dreamy.safetensors",
        {attn: torch.zeros(2, 768), "cond_stage_model.transformer.w": torch.zeros(1)},
    )
    write_checkpoint(
        tmp_path / "sd2.safetensors",
        {attn: torch.zeros(2, 1024), "cond_stage_model.model.w": torch.zeros(1)},
    )
    write_checkpoint(
        tmp_path / "acme" / "xl.safetensors",
        {
            CHECKPOINT_KEY_NAMES["xl_base"]: torch.zeros(2),
            "conditioner.embedders.1.model.w": torch.zeros(1),
            "model.diffusion_model.w": torch.zeros(1),
        },
    )
    return tmp_path


def test_single_file_checkpoints_are_listed_by_family(models_dir):
    models = {m.id: m for m in ModelRegistry(models_dir).list()}
    assert (models["dreamy"].pipeline_class, models["dreamy"].native_size) == (
        "StableDiffusionPipeline",
        512,
    )
    assert models["sd2"].native_size == 768
    assert (models["acme/xl"].pipeline_class, models["acme/xl"].native_size) == (
        "StableDiffusionXLPipeline",
        1024,
    )
    assert models["acme/xl"].single_file and models["acme/xl"].size_bytes > 0


def test_single_file_configs_come_from_a_local_base_repo_first(models_dir, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    registry = ModelRegistry(models_dir)
    checkpoint = registry.get("dreamy").path
    assert single_file_config(checkpoint, models_dir) == (SD15, True)  # HF cache only
    base = models_dir / SD15
    base.mkdir(parents=True)
    (base / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    assert single_file_config(checkpoint, models_dir) == (str(base), True)
    assert single_file_config(registry.get("acme/xl").path, models_dir)[0] == SDXL


def test_delete_removes_local_models_only(models_dir):
    registry = ModelRegistry(models_dir)
    registry.delete("acme/xl")
    with pytest.raises(ModelNotFound):
        registry.get("acme/xl")
    assert not any(models_dir.glob(".trash-*"))
    built = models_dir / TINY_RANDOM  # where the embedded random model is built on demand
    built.mkdir(parents=True)
    (built / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    assert {m.id: m.source for m in registry.list()}[TINY_RANDOM] == "embedded"
    with pytest.raises(ModelNotDeletable):
        registry.delete(TINY_RANDOM)
    with pytest.raises(ModelNotFound):
        registry.delete("acme/none")
