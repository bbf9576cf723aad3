"""The OpenAI images API, driven by the official `openai` client against the real app."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from novagenia.embedded import TINY_SHAPES
from novagenia.embedded.shapes import Sample, draw, judge, prompt_for
from tests.served import TINY, served_app

pytestmark = pytest.mark.serve

KEY = "sk-novagenia-test"
FAST = {"steps": 2}  # a NovaGenIA extension field, sent through `extra_body`


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with served_app(tmp_path_factory.mktemp("data"), api_keys=[KEY], default_model=TINY) as served:
        yield served


@pytest.fixture(scope="module")
def client(app) -> openai.OpenAI:
    return openai.OpenAI(base_url=app.base_url + "/v1", api_key=KEY, max_retries=0)


def decode(b64_json: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64_json)))
    image.load()
    return image


def test_b64_json_images_have_the_size_and_seeds_asked_for(client):
    response = client.images.generate(
        model=TINY,
        prompt="a red circle",
        n=2,
        size="64x96",
        response_format="b64_json",
        extra_body={**FAST, "seed": 5, "negative_prompt": "blurry"},
    )
    assert len(response.data) == 2 and response.created > 0
    images = [decode(item.b64_json) for item in response.data]
    assert [image.size for image in images] == [(64, 96), (64, 96)]
    parameters = [image.info["parameters"] for image in images]
    assert "Seed: 5, Size: 64x96" in parameters[0] and "Seed: 6, Size: 64x96" in parameters[1]
    assert parameters[0].splitlines()[:2] == ["a red circle", "Negative prompt: blurry"]
    assert response.data[0].revised_prompt == "a red circle" and response.data[0].url is None
    again = client.images.generate(
        model=TINY,
        prompt="a red circle",
        size="64x96",
        response_format="b64_json",
        extra_body={**FAST, "seed": 6, "negative_prompt": "blurry"},
    )
    # The same seed alone gives the same picture as inside the batch, within the small
    # tolerance batched float math allows (see tests/integration/test_batching.py).
    alone = np.asarray(decode(again.data[0].b64_json)).astype(int)
    assert np.abs(alone - np.asarray(images[1]).astype(int)).max() <= 3


def test_a_retry_with_an_idempotency_key_returns_the_first_pictures(client):
    """No seed: a second job would draw other pictures, so equal bytes mean one job."""

    def generate(prompt: str):
        return client.images.with_raw_response.generate(
            model=TINY,
            prompt=prompt,
            size="64x64",
            response_format="b64_json",
            extra_body=FAST,
            extra_headers={"Idempotency-Key": "retry-me"},
        )

    first, again = generate("a red circle"), generate("a red circle")
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.parse().data[0].b64_json == first.parse().data[0].b64_json
    with pytest.raises(openai.ConflictError) as raised:
        generate("a blue square")
    assert raised.value.code == "idempotency_key_reused"


def test_url_images_are_absolute_links_to_the_pngs(app, client):
    response = client.images.generate(
        model=TINY, prompt="a blue square", size="128x64", response_format="url", extra_body=FAST
    )
    [item] = response.data
    assert item.b64_json is None
    assert item.url.startswith(app.base_url + "/api/v1/images/openai-")
    fetched = httpx.get(item.url, timeout=30)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(fetched.content)).size == (128, 64)


def test_openai_model_names_use_the_default_model_and_options_are_ignored(client):
    response = client.images.generate(
        model="dall-e-3",
        prompt="a star",
        size="64x64",
        quality="hd",
        style="vivid",
        user="alice",
        extra_body=FAST,
    )
    [item] = response.data
    assert item.url  # OpenAI's default format is url
    image = decode(
        client.images.generate(model="gpt-image-1", prompt="a star", size="64x64", extra_body=FAST)
        .data[0]
        .b64_json
    )  # gpt-image-* models answer in base64 by default
    assert f"Model: {TINY}" in image.info["parameters"]
    assert "Speed" not in image.info["parameters"]


def test_quality_low_means_speed_fast(client):
    response = client.images.generate(
        model=TINY, prompt="a star", size="64x64", quality="low", response_format="b64_json",
        extra_body={"steps": 10},
    )  # fmt: skip
    assert "Speed: fast" in decode(response.data[0].b64_json).info["parameters"]


def test_size_auto_is_the_models_native_size(client):
    response = client.images.generate(
        model=TINY, prompt="x", size="auto", response_format="b64_json", extra_body=FAST
    )
    assert decode(response.data[0].b64_json).size == (128, 128)


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"size": "100x100"}, "size"),
        ({"size": "64x4096"}, "size"),
        ({"size": "big"}, "size"),
        ({"n": 9}, "n"),
        ({"n": 0}, "n"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"response_format": "gif"}, "response_format"),
        ({"quality": "ultra"}, "quality"),
        ({"extra_body": {"seed": -1}}, "seed"),
        ({"extra_body": {"sampler": "magic"}}, "sampler"),
    ],
)
def test_invalid_parameters_get_400_in_openai_shape(client, change, param):
    arguments = {"model": TINY, "prompt": "x", "size": "64x64", **change}
    with pytest.raises(openai.BadRequestError) as raised:
        client.images.generate(**arguments)
    error = raised.value.body
    assert raised.value.status_code == 400
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert error["message"]


def test_malformed_body_and_streaming_are_refused(app):
    headers = {"Authorization": f"Bearer {KEY}", "content-type": "application/json"}
    broken = httpx.post(
        app.base_url + "/v1/images/generations", content=b"{nope", headers=headers, timeout=30
    )
    assert broken.status_code == 400 and set(broken.json()["error"]) == {
        "message",
        "type",
        "param",
        "code",
    }
    stream = httpx.post(
        app.base_url + "/v1/images/generations",
        json={"prompt": "x", "stream": True},
        headers=headers,
        timeout=30,
    )
    assert stream.status_code == 400 and stream.json()["error"]["param"] == "stream"


def test_wrong_or_missing_key_gets_401_in_openai_shape(app):
    wrong = openai.OpenAI(base_url=app.base_url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        wrong.images.generate(prompt="x", size="64x64", extra_body=FAST)
    assert raised.value.body["code"] == "invalid_api_key"
    missing = httpx.post(app.base_url + "/v1/images/generations", json={"prompt": "x"}, timeout=30)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
    assert wrong.models.list().data  # reads stay open unless auth_reads is set


def test_models_list_and_retrieve(client):
    models = client.models.list().data
    tiny = next(model for model in models if model.id == TINY)
    assert tiny.object == "model" and tiny.owned_by == "novagenia"
    assert client.models.retrieve(TINY).id == TINY
    with pytest.raises(openai.NotFoundError) as raised:
        client.models.retrieve("dall-e-3")
    assert raised.value.body["type"] == "invalid_request_error"


def test_unsupported_openai_routes_get_404_in_openai_shape(client):
    with pytest.raises(openai.NotFoundError) as raised:
        client.embeddings.create(model="text-embedding-3-small", input="a red circle")
    assert "not supported" in raised.value.body["message"]


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_edits_redraw_the_transparent_part_of_the_mask(client):
    """On the trained embedded model: the yellow square under the transparent part of
    the mask becomes the prompt's green one."""
    square = draw(Sample("yellow", "square", "black", 6, 6, 26))
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 40, 40))  # transparent: edit here
    response = client.images.edit(
        image=("square.png", png(square), "image/png"),
        mask=("mask.png", png(mask), "image/png"),
        prompt=prompt_for("green", "square", "black"),
        model=TINY_SHAPES,
        size="64x64",
        response_format="b64_json",
        extra_body={"seed": 1, "steps": 20, "guidance_scale": 6.0, "sampler": "euler"},
    )
    pixels = np.asarray(decode(response.data[0].b64_json).convert("RGB")).astype(int)[:40, :40]
    green = (np.abs(pixels - (40, 180, 60)).sum(axis=-1) < 90).sum()
    yellow = (np.abs(pixels - (240, 220, 40)).sum(axis=-1) < 90).sum()
    assert green > 150 and yellow < 20
    unmasked = client.images.edit(
        image=("square.png", png(square), "image/png"),
        prompt=prompt_for("red", "circle", "blue"),
        model=TINY_SHAPES,
        response_format="b64_json",
        extra_body={"seed": 1, "steps": 20, "guidance_scale": 6.0, "strength": 0.5},
    )
    redrawn = decode(unmasked.data[0].b64_json)
    assert redrawn.size == (64, 64)  # the input's size
    assert judge(redrawn) == ("blue", "red", "circle")


def test_edits_refuse_a_mask_without_alpha_and_a_missing_image(client, app):
    with pytest.raises(openai.BadRequestError) as raised:
        client.images.edit(
            image=("in.png", png(Image.new("RGB", (64, 64))), "image/png"),
            mask=("mask.png", png(Image.new("RGB", (64, 64))), "image/png"),
            prompt="x",
            model=TINY_SHAPES,
        )
    assert raised.value.body["param"] == "mask" and "alpha" in raised.value.body["message"]
    no_image = httpx.post(
        app.base_url + "/v1/images/edits",
        data={"prompt": "x"},
        files={"other": ("a.txt", b"x")},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert no_image.status_code == 400 and no_image.json()["error"]["param"] == "image"


def test_native_api_errors_keep_their_own_shape(app):
    response = app.http.post(
        "/api/v1/jobs", json={"prompt": ""}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 422 and "prompt" in str(response.json()["detail"])


def test_variations_redraw_a_picture_from_the_prompt_it_carries(client):
    """A picture made here carries its prompt (PNG parameters): its variations keep it."""
    made = client.images.generate(
        prompt=prompt_for("orange", "triangle", "blue"),
        model=TINY_SHAPES,
        response_format="b64_json",
        extra_body={"seed": 3, "steps": 20, "guidance_scale": 6.0},
    )
    original = base64.b64decode(made.data[0].b64_json)
    varied = client.images.create_variation(
        image=("made.png", original, "image/png"),
        model=TINY_SHAPES,
        n=2,
        response_format="b64_json",
        extra_body={"seed": 5, "steps": 20},
    )
    first, second = (decode(item.b64_json) for item in varied.data)
    assert judge(first) == judge(second) == ("blue", "orange", "triangle")
    assert not np.array_equal(np.asarray(first), np.asarray(second))  # each its own seed


def test_a_variation_of_a_picture_without_a_prompt_needs_one(client):
    plain = png(draw(Sample("red", "circle", "white", 10, 10, 30)))
    with pytest.raises(openai.BadRequestError) as raised:
        client.images.create_variation(image=("plain.png", plain, "image/png"), model=TINY_SHAPES)
    assert raised.value.body["param"] == "prompt"
    varied = client.images.create_variation(
        image=("plain.png", plain, "image/png"),
        model=TINY_SHAPES,
        response_format="b64_json",
        extra_body={
            "prompt": prompt_for("red", "circle", "white"),
            "seed": 1,
            "steps": 20,
            "strength": 0.5,
        },
    )
    assert judge(decode(varied.data[0].b64_json)) == ("white", "red", "circle")
