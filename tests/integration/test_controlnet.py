"""ControlNet through the served app: the embedded canny ControlNet puts the shape where
the given edges are, by the v1 API and by the ControlNet extension's A1111 API (driven by
webuiapi), with img2img and inpainting too; its preprocessors previewed; bad units refused."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import webuiapi
from PIL import Image

from novagenia.controlnet.preprocessors import Canny
from novagenia.embedded import TINY_SHAPES
from novagenia.embedded.shapes import Sample, analyse, draw, judge
from tests.served import TINY, png_bytes, served_app

pytestmark = pytest.mark.serve

CANNY = "novagenia/tiny-shapes-canny"
PROMPT = "a red circle on a white background"
TOP_LEFT = Sample("blue", "circle", "black", 6, 6, 30)  # only its edges are given
SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with served_app(tmp_path_factory.mktemp("data"), preview_every_steps=0) as served:
        yield served


def iou(image: Image.Image, sample: Sample) -> float:
    got, want = analyse(image)["mask"], analyse(draw(sample))["mask"]
    return float((got & want).sum() / (got | want).sum())


def run(app, **fields) -> dict:
    job = app.submit(
        model=TINY_SHAPES, prompt=PROMPT, steps=20, guidance_scale=6.0, batch_size=3, **fields
    )
    done = app.wait(job["id"])
    assert done["status"] == "succeeded", done["error"]
    return done


def test_the_embedded_controlnet_and_the_preprocessors_are_listed(app):
    [controlnet] = app.http.get("/api/v1/controlnet/models").json()["controlnets"]
    assert controlnet["id"] == CANNY and controlnet["family"] == "sd"
    names = [
        p["name"] for p in app.http.get("/api/v1/controlnet/preprocessors").json()["preprocessors"]
    ]
    assert names == ["none", "canny", "lineart", "scribble", "tile"]
    models = {m["id"]: m for m in app.http.get("/api/v1/models").json()["models"]}
    assert models[TINY_SHAPES]["capabilities"]["controlnet"] is True
    assert CANNY not in models  # a ControlNet is no model to generate with


def test_the_preview_is_the_control_map_a_job_gets(app):
    picture = app.upload(draw(TOP_LEFT))["id"]
    response = app.http.get(
        "/api/v1/controlnet/preprocess",
        params={"image": picture, "preprocessor": "canny", "low_threshold": 50},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    expected = Canny(low_threshold=50).run(draw(TOP_LEFT))
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(response.content))), np.asarray(expected)
    )
    wrong = app.http.get(
        "/api/v1/controlnet/preprocess",
        params={"image": picture, "preprocessor": "canny", "threshold": 3},
    )
    assert wrong.status_code == 422 and "threshold" in wrong.text
    missing = app.http.get("/api/v1/controlnet/preprocess", params={"image": "0" * 32})
    assert missing.status_code == 404


def test_the_shape_lands_where_its_edges_are(app):
    edges = app.upload(draw(TOP_LEFT))["id"]
    unit = {"model": CANNY, "image": edges, "preprocessor": "canny"}
    guided = run(app, seed=SEEDS[0], controlnet=[unit])
    free = run(app, seed=SEEDS[0])
    guided_iou = [iou(app.image(i["url"]), TOP_LEFT) for i in guided["images"]]
    free_iou = [iou(app.image(i["url"]), TOP_LEFT) for i in free["images"]]
    assert min(guided_iou) > 0.5, guided_iou
    assert np.mean(guided_iou) > np.mean(free_iou) + 0.2, (guided_iou, free_iou)
    for info in guided["images"]:
        assert judge(app.image(info["url"]))[1] == "red"  # the prompt's colour, not the input's
    parameters = app.image(guided["images"][0]["url"]).info["parameters"]
    assert f'ControlNet 0: "Module: canny, Model: {CANNY}, Weight: 1' in parameters


def test_a_unit_without_an_image_follows_the_init_image_in_img2img_and_inpainting(app):
    init = app.upload(draw(TOP_LEFT))["id"]
    mask = Image.new("L", (64, 64), 255)
    unit = {"model": CANNY, "preprocessor": "canny", "weight": 0.8, "guidance_end": 0.8}
    redrawn = run(app, seed=4, init_image=init, strength=0.9, controlnet=[unit])
    inpainted = run(app, seed=4, init_image=init, mask=app.upload(mask)["id"], controlnet=[unit])
    for done in (redrawn, inpainted):
        for info in done["images"]:
            assert iou(app.image(info["url"]), TOP_LEFT) > 0.4


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"controlnet": [{"model": "nobody/canny", "image": "0" * 32}]}, "unknown ControlNet"),
        ({"controlnet": [{"model": CANNY}]}, "needs an image"),
        ({"controlnet": [{"model": CANNY, "image": "f" * 32}]}, "no input image"),
        (
            {
                "controlnet": [
                    {"model": CANNY, "image": "0" * 32, "guidance_start": 0.5, "guidance_end": 0.5}
                ]
            },
            "guidance_start must be below guidance_end",
        ),
    ],
)
def test_bad_units_are_clear_422s(app, fields, message):
    body = {"prompt": PROMPT, "model": TINY_SHAPES, **fields}
    response = app.http.post("/api/v1/jobs", json=body)
    assert response.status_code == 422 and message in response.text, response.text


def test_a_controlnet_made_for_other_models_is_a_422(app):
    """tiny-random is SD 1.x too, but its text is narrower than tiny-shapes' (its UNet
    config, read once the model is built by its first job)."""
    first = app.wait(app.submit(prompt="x", model=TINY, steps=1)["id"])
    assert first["status"] == "succeeded", first["error"]
    unit = {"model": CANNY, "image": app.upload(draw(TOP_LEFT))["id"]}
    response = app.http.post(
        "/api/v1/jobs", json={"prompt": PROMPT, "model": TINY, "controlnet": [unit]}
    )
    assert response.status_code == 422 and "other models" in response.text, response.text


def test_the_controlnet_extension_api_through_webuiapi(app):
    api = webuiapi.WebUIApi(host="127.0.0.1", port=int(app.base_url.rsplit(":", 1)[1]))
    assert api.controlnet_model_list() == [CANNY]
    assert "canny" in api.controlnet_module_list()
    unit = webuiapi.ControlNetUnit(
        image=draw(TOP_LEFT),
        module="canny",
        model="tiny-shapes-canny [0123abcd]",
        threshold_a=100,
        threshold_b=200,
    )
    result = api.txt2img(
        prompt=PROMPT,
        steps=20,
        cfg_scale=6.0,
        width=64,
        height=64,
        seed=SEEDS[1],
        batch_size=2,
        sampler_name="Euler a",
        controlnet_units=[unit],
    )
    for image in result.images:
        assert iou(image, TOP_LEFT) > 0.5
    assert "ControlNet 0" in result.info["infotexts"][0]
    depth = webuiapi.ControlNetUnit(image=draw(TOP_LEFT), module="depth_midas", model=CANNY)
    with pytest.raises(RuntimeError, match="depth_midas"):
        api.txt2img(prompt=PROMPT, steps=2, width=64, height=64, controlnet_units=[depth])


def test_extension_units_arrive_as_raw_base64_too(app):
    raw = base64.b64encode(png_bytes(draw(TOP_LEFT))).decode()
    body = {
        "prompt": PROMPT,
        "steps": 2,
        "width": 64,
        "height": 64,
        "alwayson_scripts": {
            "controlnet": {
                "args": [
                    {"enabled": False, "module": "depth_midas", "model": "missing"},
                    {"input_image": raw, "module": "none", "model": CANNY, "weight": 0.5},
                ]
            }
        },
        "override_settings": {"sd_model_checkpoint": TINY_SHAPES},
    }
    response = app.http.post("/sdapi/v1/txt2img", json=body, timeout=120)
    assert response.status_code == 200, response.text
    assert "Module: none, Model: novagenia/tiny-shapes-canny, Weight: 0.5" in response.text


def test_a_unit_guides_the_hires_fix_too(app):
    edges = app.upload(draw(TOP_LEFT))["id"]
    unit = {"model": CANNY, "image": edges, "preprocessor": "canny"}
    done = run(app, seed=SEEDS[2], controlnet=[unit], hires={"scale": 2, "strength": 0.6})
    for info in done["images"]:
        picture = app.image(info["url"])
        assert picture.size == (128, 128)
        small = picture.resize((64, 64), Image.LANCZOS)
        assert iou(small, TOP_LEFT) > 0.5 and judge(small)[1] == "red"
