"""Jobs that start from an image, end to end on the trained embedded model (judged by
pixels): img2img keeps the input's layout and follows the prompt, inpainting redraws the
masked part only; inputs are uploaded once or sent as data URLs; bad inputs are 422s."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from PIL import Image

from novagenia.embedded import TINY_SHAPES
from novagenia.embedded.shapes import Sample, analyse, draw, judge, prompt_for
from tests.served import png_bytes as png
from tests.served import served_app

pytestmark = pytest.mark.serve

SQUARE = Sample("yellow", "square", "black", 6, 6, 26)  # top left; txt2img puts it anywhere


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with served_app(tmp_path_factory.mktemp("data"), preview_every_steps=0) as served:
        yield served


def generate(app, prompt: str, **fields) -> dict:
    job = app.submit(
        model=TINY_SHAPES, prompt=prompt, steps=20, guidance_scale=6.0, seed=1, **fields
    )
    done = app.wait(job["id"])
    assert done["status"] == "succeeded", done["error"]
    return done


def test_an_uploaded_input_is_stored_once_and_served_back(app):
    first = app.upload(draw(SQUARE))
    assert (first["width"], first["height"]) == (64, 64)
    assert app.upload(draw(SQUARE))["id"] == first["id"]
    stored = app.image(first["url"])
    assert np.array_equal(np.asarray(stored), np.asarray(draw(SQUARE)))


def test_img2img_keeps_the_inputs_layout_and_follows_the_prompt(app):
    square = app.upload(draw(SQUARE))
    job = app.submit(
        model=TINY_SHAPES,
        prompt=prompt_for("red", "circle", "blue"),
        init_image=square["id"],
        strength=0.5,
        guidance_scale=6.0,
        seed=1,
    )
    events = app.events([job["id"]])
    done = app.job(job["id"])
    assert done["status"] == "succeeded", done["error"]
    picture = app.image(done["images"][0]["url"])
    assert judge(picture) == ("blue", "red", "circle")
    x0, y0, _, _ = analyse(picture)["bbox"]
    assert abs(x0 - SQUARE.x0) <= 4 and abs(y0 - SQUARE.y0) <= 4
    # half the steps run: the skipped ones count as done (on a busy machine the first
    # reports may pass before the WebSocket subscribes, so the list may start later)
    steps = [e["step"] for e in events if e["type"] == "progress"]
    assert steps == list(range(max(11, steps[0]), 21))
    assert "Denoising strength: 0.5" in picture.info["parameters"]
    assert (done["request"]["width"], done["request"]["height"]) == (64, 64)  # the input's


def test_a_data_url_is_stored_as_an_input(app):
    url = "data:image/png;base64," + base64.b64encode(png(draw(SQUARE))).decode()
    done = generate(
        app, prompt_for("yellow", "square", "black"), init_image=url, strength=0.5, batch_size=2
    )
    assert done["request"]["init_image"] == app.upload(draw(SQUARE))["id"]
    assert len(done["images"]) == 2  # one init image, repeated over the batch
    for image in done["images"]:  # (at half strength the corners may round off)
        picture = app.image(image["url"])
        assert judge(picture)[:2] == ("black", "yellow")
        assert analyse(picture)["bbox"][:2] == pytest.approx((SQUARE.x0, SQUARE.y0), abs=4)


def test_inpainting_redraws_the_masked_part_only(app):
    mask = Image.new("RGB", (64, 64), "black")
    mask.paste((255, 255, 255), (0, 0, 40, 40))  # over the yellow square
    done = generate(
        app,
        prompt_for("green", "square", "black"),
        init_image=app.upload(draw(SQUARE))["id"],
        mask=app.upload(mask)["id"],
        mask_blur=0,
        strength=1.0,
    )
    pixels = app.pixels(done).astype(int)

    def near(colour: str) -> int:
        rgb = {"green": (40, 180, 60), "yellow": (240, 220, 40)}[colour]
        return int((np.abs(pixels[:40, :40] - rgb).sum(axis=-1) < 90).sum())

    assert near("green") > 150 and near("yellow") < 20
    assert judge(app.image(done["images"][0]["url"]))[0] == "black"
    assert "Mask blur: 0" in app.image(done["images"][0]["url"]).info["parameters"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"mask": "0" * 32}, "mask", "needs an init_image"),
        ({"init_image": "0" * 32}, "init_image", "no input image"),
        ({"init_image": "../../etc/passwd"}, "init_image", "no input image"),
        ({"init_image": "data:image/png;base64,AAAA"}, "init_image", "not a readable image"),
        ({"init_image": "data:text/plain;base64,AAAA"}, "init_image", "data URL"),
        ({"init_image": "0" * 32, "strength": 0}, "strength", "greater than 0"),
    ],
)
def test_bad_inputs_are_clear_422s(app, fields, field, message):
    response = app.http.post(
        "/api/v1/jobs", json={"model": TINY_SHAPES, "prompt": "a red circle", **fields}
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"][-1] == field and message in detail["msg"], detail


def test_an_upload_that_is_not_an_image_is_refused(app):
    response = app.http.post(
        "/api/v1/inputs", files={"file": ("x.png", b"not an image at all", "image/png")}
    )
    assert response.status_code == 422
    assert "not a readable image" in response.json()["detail"][0]["msg"]
    assert app.http.get("/api/v1/inputs/" + "0" * 32 + ".png").status_code == 404


@pytest.mark.parametrize(("upscaler", "speed"), [("lanczos", "quality"), ("latent", "fast")])
def test_the_hires_fix_redraws_the_picture_twice_as_large(app, upscaler, speed):
    case = ("white", "triangle", "green")
    job = app.submit(
        model=TINY_SHAPES,
        prompt=prompt_for(*case),
        steps=20,
        guidance_scale=6.0,
        seed=3,
        width=64,
        height=64,
        hires={"scale": 2, "strength": 0.5, "steps": 10, "upscaler": upscaler},
        speed=speed,
    )
    events = app.events([job["id"]])
    done = app.job(job["id"])
    assert done["status"] == "succeeded", done["error"]
    picture = app.image(done["images"][0]["url"])
    assert picture.size == (128, 128)
    assert judge(picture) == (case[2], case[0], case[1])
    steps = [e["step"] for e in events if e["type"] == "progress"]
    # half the second pass runs (the first reports may pass before the socket subscribes)
    assert steps == list(range(steps[0], 21)) + list(range(26, 31))
    assert done["progress"]["total_steps"] == 30
    assert done["request"]["hires"]["width"] == 128
    parameters = picture.info["parameters"]
    assert "Size: 64x64" in parameters and "Hires upscale: 2" in parameters
    assert f"Hires upscaler: {upscaler.capitalize()}" in parameters


@pytest.mark.parametrize(
    ("hires", "extra", "message"),
    [
        ({"scale": 4}, {"width": 1024, "height": 1024}, "at most 2048"),
        ({"width": 100, "height": 128}, {}, "multiple of 8"),
        ({"scale": 0.5}, {}, "greater than 1"),
    ],
)
def test_a_hires_fix_it_cannot_do_is_a_clear_422(app, hires, extra, message):
    response = app.http.post(
        "/api/v1/jobs",
        json={"model": TINY_SHAPES, "prompt": "a red circle", "hires": hires, **extra},
    )
    assert response.status_code == 422, response.text
    assert message in str(response.json()["detail"])


def test_inpainting_only_the_masked_area_leaves_the_rest_untouched(app):
    square = draw(SQUARE)
    mask = Image.new("RGB", (64, 64), "black")
    mask.paste((255, 255, 255), (4, 4, 36, 36))
    done = generate(
        app,
        prompt_for("green", "square", "black"),
        init_image=app.upload(square)["id"],
        mask=app.upload(mask)["id"],
        mask_blur=0,
        strength=1.0,
        mask_crop_padding=4,
    )
    pixels, before = app.pixels(done).astype(int), np.asarray(square).astype(int)
    outside = np.ones((64, 64), dtype=bool)
    outside[:40, :40] = False  # the box around the mask, grown by 4
    assert np.array_equal(pixels[outside], before[outside])
    assert np.abs(pixels[4:36, 4:36] - before[4:36, 4:36]).mean() > 20  # redrawn
    assert "Masked area padding: 4" in app.image(done["images"][0]["url"]).info["parameters"]


def test_a_tiled_upscale_redraws_a_picture_twice_as_large_tile_by_tile(app):
    """On the trained model: the 64×64 square becomes a 128×128 picture drawn in 64×64
    tiles (4 of them at overlap 32), with the square where it was, twice as large."""
    job = app.submit(
        model=TINY_SHAPES,
        prompt=prompt_for(SQUARE.colour, SQUARE.shape, SQUARE.background),
        steps=10,
        guidance_scale=6.0,
        seed=2,
        init_image=app.upload(draw(SQUARE))["id"],
        strength=0.3,
        upscale={"scale": 2, "overlap": 32},
    )
    done = app.wait(job["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["request"]["upscale"] == {"scale": 2.0, "overlap": 32, "width": 128, "height": 128}
    assert (done["request"]["width"], done["request"]["height"]) == (64, 64)  # the tiles
    assert done["progress"]["total_steps"] == 10 * 9  # 3 × 3 tiles spread over 128 px
    picture = app.image(done["images"][0]["url"])
    assert picture.size == (128, 128)
    assert judge(picture) == (SQUARE.background, SQUARE.colour, SQUARE.shape)
    x0, y0, x1, y1 = analyse(picture)["bbox"]
    assert abs(x0 - 2 * SQUARE.x0) <= 4 and abs(x1 - 2 * (SQUARE.x0 + SQUARE.size)) <= 6
    assert "SD upscale overlap: 32" in picture.info["parameters"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"upscale": {"scale": 2}}, "needs an init_image"),
        ({"upscale": {"scale": 2}, "init_image": "IMAGE", "mask": "IMAGE"}, "combine with mask"),
        ({"upscale": {"scale": 4}, "init_image": "BIG"}, "larger than this server's 2048"),
        ({"upscale": {"scale": 2}, "init_image": "IMAGE", "width": 256, "height": 256}, "must fit"),
        ({"upscale": {"scale": 2}, "init_image": "BIG", "width": 64, "height": 64}, "step limit"),
    ],
)
def test_a_tiled_upscale_it_cannot_do_is_a_clear_422(app, fields, message):
    image = app.upload(draw(SQUARE))["id"]
    big = app.upload(Image.new("RGB", (1024, 1024), "white"))["id"]
    body = {"model": TINY_SHAPES, "prompt": "a red circle", **fields}
    for key in ("init_image", "mask"):
        if key in body:
            body[key] = {"IMAGE": image, "BIG": big}[body[key]]
    response = app.http.post("/api/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    assert message in str(response.json()["detail"])
