"""A model's capabilities read from its configs alone, at the real families' sizes (only
the JSON files of each model, no weights), and the submission checks made from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from novagenia.config import AppArgs
from novagenia.inputs import InputStore
from novagenia.jobs.schemas import GenerationRequest
from novagenia.loras import LoraLibrary
from novagenia.models import ModelRegistry
from novagenia.submission import InvalidInput, resolve_request
from tests.tiny_families import FLOW_SCHEDULER, FLUX_SCHEDULER, SANA_SCHEDULER

KL_VAE = {"_class_name": "AutoencoderKL", "block_out_channels": [128, 256, 512, 512]}
DC_AE = {
    "_class_name": "AutoencoderDC",
    "encoder_block_out_channels": [128, 256, 512, 512, 1024, 1024],
}
CLASSIC = {"_class_name": "EulerDiscreteScheduler"}


# pipeline class, denoiser folder, denoiser config, scheduler, VAE
MODELS = {
    "sdxl": ("StableDiffusionXLPipeline", "unet", {"sample_size": 128}, CLASSIC, KL_VAE),
    "sd35": (
        "StableDiffusion3Pipeline",
        "transformer",
        {"sample_size": 128, "patch_size": 2},
        FLOW_SCHEDULER,
        KL_VAE,
    ),
    "flux-dev": ("FluxPipeline", "transformer", {"guidance_embeds": True}, FLUX_SCHEDULER, KL_VAE),
    "flux-schnell": (
        "FluxPipeline",
        "transformer",
        {"guidance_embeds": False},
        FLUX_SCHEDULER,
        KL_VAE,
    ),
    "pixart-sigma": (
        "PixArtSigmaPipeline",
        "transformer",
        {"sample_size": 128, "patch_size": 2},
        CLASSIC,
        KL_VAE,
    ),
    "sana": (
        "SanaPipeline",
        "transformer",
        {"sample_size": 32, "patch_size": 1},
        SANA_SCHEDULER,
        DC_AE,
    ),
    "kandinsky": ("KandinskyV22Pipeline", "unet", {"sample_size": 96}, CLASSIC, KL_VAE),
}


def write_model(root: Path, name: str) -> None:
    pipeline, folder, denoiser, scheduler, vae = MODELS[name]
    model = root / "acme" / name
    for part, config in ((folder, denoiser), ("scheduler", scheduler), ("vae", vae)):
        (model / part).mkdir(parents=True)
        (
            model / part / ("scheduler_config.json" if part == "scheduler" else "config.json")
        ).write_text(json.dumps(config))
    (model / "model_index.json").write_text(json.dumps({"_class_name": pipeline}))


@pytest.fixture
def args(tmp_path) -> AppArgs:
    args = AppArgs.model_validate({"data_dir": str(tmp_path)}).absolute()
    for name in MODELS:
        write_model(args.models_dir, name)
    return args


def capabilities(args: AppArgs, name: str):
    return ModelRegistry(args.models_dir).get(f"acme/{name}").capabilities


@pytest.mark.parametrize(
    ("name", "native", "multiple", "guidance", "steps"),
    [
        ("sdxl", 1024, 8, "cfg", 25),
        ("sd35", 1024, 16, "cfg", 28),
        ("flux-dev", 1024, 16, "distilled", 28),
        ("flux-schnell", 1024, 16, "none", 4),
        ("pixart-sigma", 1024, 16, "cfg", 20),
        ("sana", 1024, 32, "cfg", 20),
    ],
)
def test_real_size_configs_give_the_familys_capabilities(
    args, name, native, multiple, guidance, steps
):
    found = capabilities(args, name)
    assert (found.native_size, found.size_multiple) == (native, multiple)
    assert (found.guidance, found.default_steps) == (guidance, steps)
    assert found.negative_prompt is (guidance == "cfg")
    assert found.default_sampler in found.samplers


def resolve(args: AppArgs, name: str, **fields) -> GenerationRequest:
    body = GenerationRequest(prompt="a cat", model=f"acme/{name}", **fields)
    return resolve_request(
        body,
        ModelRegistry(args.models_dir),
        args,
        LoraLibrary(args.loras_dir),
        InputStore(args.resolved_output_uri),
    )


def test_sizes_off_the_familys_multiple_are_refused(args):
    with pytest.raises(InvalidInput) as refused:
        resolve(args, "sana", width=1000, height=1024)
    assert refused.value.field == "width"
    assert "multiple of 32" in refused.value.message
    assert resolve(args, "sana", width=992, height=1024).width == 992


@pytest.mark.parametrize("name", ["pixart-sigma", "sana"])
def test_image_inputs_are_refused_where_the_family_takes_none(args, name):
    assert not capabilities(args, name).image_inputs
    with pytest.raises(InvalidInput) as refused:
        resolve(args, name, init_image="0" * 32)
    assert refused.value.field == "init_image"
    assert "img2img and inpainting are not supported" in refused.value.message


@pytest.mark.parametrize("name", ["sd35", "flux-dev", "pixart-sigma", "sana"])
def test_tiling_is_refused_where_there_is_no_unet(args, name):
    assert not capabilities(args, name).tiling
    with pytest.raises(InvalidInput) as refused:
        resolve(args, name, tiling=True)
    assert refused.value.field == "tiling" and "needs a UNet" in refused.value.message
    assert capabilities(args, "sdxl").tiling


def test_a_pipeline_of_an_unknown_family_is_refused_before_it_queues(args):
    with pytest.raises(InvalidInput) as refused:
        resolve(args, "kandinsky")
    assert refused.value.field == "model"
    assert "KandinskyV22Pipeline" in refused.value.message
    assert "Flux" in refused.value.message


def test_defaults_fill_what_the_request_left_out(args):
    resolved = resolve(args, "flux-dev")
    assert (resolved.steps, resolved.guidance_scale, resolved.sampler) == (28, 3.5, "flow_euler")
    assert (resolved.width, resolved.height) == (1024, 1024)
    chosen = resolve(args, "flux-dev", steps=12, guidance_scale=2.0, sampler="flow_unipc")
    assert (chosen.steps, chosen.guidance_scale, chosen.sampler) == (12, 2.0, "flow_unipc")
