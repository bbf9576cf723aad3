"""What every API does before a job queues (`novagenia.submission`), without HTTP."""

from __future__ import annotations

import shutil

import pytest

from novagenia.config import AppArgs
from novagenia.embedded import TINY_SHAPES
from novagenia.inputs import InputStore
from novagenia.jobs.schemas import GenerationRequest
from novagenia.loras import LoraLibrary
from novagenia.models import ModelRegistry
from novagenia.outputs import DiskFull
from novagenia.submission import InvalidInput, resolve_request


def resolve(tmp_path, limits: dict, **request):
    args = AppArgs.model_validate({"data_dir": str(tmp_path), **limits}).absolute()
    registry = ModelRegistry(args.models_dir)
    body = GenerationRequest(prompt="a red circle on a blue background", **request)
    inputs = InputStore(args.resolved_output_uri)
    return resolve_request(body, registry, args, LoraLibrary(args.loras_dir), inputs)


@pytest.mark.parametrize(
    ("limits", "request_"),
    [
        ({"max_steps": 400}, {"steps": 400}),
        ({"max_image_size": 4096}, {"width": 3072, "height": 4096}),
        ({"max_images_per_job": 32}, {"batch_size": 32}),
    ],
)
def test_raised_limits_are_accepted(tmp_path, limits, request_):
    resolved = resolve(tmp_path, limits, **request_)
    assert resolved.model == TINY_SHAPES and resolved.seed is not None


@pytest.mark.parametrize(
    ("limits", "field", "value"),
    [
        ({"max_steps": 20}, "steps", 21),
        ({"max_image_size": 512}, "width", 520),
        ({"max_images_per_job": 2}, "batch_size", 3),
    ],
)
def test_lowered_limits_refuse_in_words(tmp_path, limits, field, value):
    with pytest.raises(InvalidInput) as refused:
        resolve(tmp_path, limits, **{field: value})
    assert refused.value.field == field
    assert refused.value.errors()[0]["msg"].endswith("on this server")


def test_fills_model_size_and_seed_and_refuses_unknowns(tmp_path):
    resolved = resolve(tmp_path, {})
    assert (resolved.width, resolved.height) == (64, 64) and 0 <= resolved.seed < 2**32
    with pytest.raises(InvalidInput, match="unknown model"):
        resolve(tmp_path, {}, model="nobody/nothing")
    with pytest.raises(InvalidInput, match="does not apply"):
        resolve(tmp_path, {}, sampler="lcm")


def test_a_latent_hires_fix_must_redraw(tmp_path):
    resolved = resolve(tmp_path, {}, hires={"upscaler": "latent-bicubic"})
    assert resolved.hires.in_latent_space and resolved.hires.width == 128
    assert resolve(tmp_path, {}, hires={"strength": 0}).total_steps == 20  # upscale only
    with pytest.raises(InvalidInput, match="strength above 0"):
        resolve(tmp_path, {}, hires={"upscaler": "latent", "strength": 0})


def test_a_disk_with_less_room_than_the_server_keeps_refuses_new_jobs(tmp_path):
    free_mb = shutil.disk_usage(tmp_path).free / 2**20
    assert resolve(tmp_path, {"min_free_disk_mb": free_mb / 2}).seed is not None
    with pytest.raises(DiskFull, match="MiB free where pictures are stored"):
        resolve(tmp_path, {"min_free_disk_mb": free_mb + 10 * 1024})
