"""A dedicated inpainting model (a UNet that takes the masked picture and the mask as 5
more input channels: `StableDiffusionInpaintPipeline`) through the served app: it
inpaints, and what it cannot do (draw from text alone, img2img without a mask) is a 422."""

from __future__ import annotations

import pytest
import torch
from diffusers import StableDiffusionInpaintPipeline, UNet2DConditionModel
from PIL import Image

from novagenia.embedded.random_tiny import build_tiny_random_pipeline
from tests.served import served_app

pytestmark = pytest.mark.serve

INPAINT = "tiny/tiny-sd-inpainting"


def build_inpainting_pipeline() -> StableDiffusionInpaintPipeline:
    """tiny-random with a 9-channel UNet: latents, mask, masked-picture latents."""
    base = build_tiny_random_pipeline()
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config({**base.unet.config, "in_channels": 9})
    return StableDiffusionInpaintPipeline(
        **{name: getattr(base, name) for name in ("vae", "text_encoder", "tokenizer", "scheduler")},
        unet=unet,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    build_inpainting_pipeline().save_pretrained(data / "models" / INPAINT)
    with served_app(data, preview_every_steps=0) as served:
        yield served


def test_an_inpainting_model_is_listed_as_one_and_inpaints(app):
    [listed] = [m for m in app.http.get("/api/v1/models").json()["models"] if m["id"] == INPAINT]
    assert listed["pipeline_class"] == "StableDiffusionInpaintPipeline"
    assert listed["capabilities"]["family"] == "sd"
    assert listed["capabilities"]["inpaint_only"] is True
    picture = app.upload(Image.new("RGB", (64, 64), (200, 40, 40)))["id"]
    mask = Image.new("RGB", (64, 64), "black")
    mask.paste((255, 255, 255), (16, 16, 48, 48))
    job = app.submit(
        model=INPAINT,
        prompt="a blue square",
        steps=3,
        seed=1,
        init_image=picture,
        mask=app.upload(mask)["id"],
        strength=1.0,
    )
    done = app.wait(job["id"])
    assert done["status"] == "succeeded", done["error"]
    assert app.image(done["images"][0]["url"]).size == (64, 64)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "init_image"),  # text alone
        ({"init_image": "PICTURE"}, "mask"),  # img2img without a mask
        ({"init_image": "PICTURE", "mask": "PICTURE", "hires": {"scale": 2}}, "hires"),
    ],
)
def test_what_an_inpainting_model_cannot_do_is_a_clear_422(app, fields, field):
    picture = app.upload(Image.new("RGB", (64, 64), "white"))["id"]
    body = {"model": INPAINT, "prompt": "a cat", **fields}
    for key in ("init_image", "mask"):
        if key in body:
            body[key] = picture
    response = app.http.post("/api/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field] and "inpainting model" in error["msg"]
