"""The LoRA library and LoRA jobs end to end, on real Ray Serve and the tiny model."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from novagenia.embedded import TINY_SHAPES
from novagenia.embedded.shapes import judge
from tests.lora_files import make_test_loras, write_colour_swap_lora
from tests.served import served_app

pytestmark = pytest.mark.serve

KEY = "lora-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SMALL = {"steps": 2, "width": 64, "height": 64, "seed": 5, "sampler": "euler"}
UPLOAD_LIMIT_MB = 0.5


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_test_loras(tmp_path_factory.mktemp("lora-files"))


@pytest.fixture(scope="module")
def app(tmp_path_factory, files):
    data = tmp_path_factory.mktemp("data")
    (data / "loras").mkdir()
    (data / "loras" / "style.safetensors").write_bytes(files["style"].read_bytes())
    (data / "loras" / "style.png").write_bytes(b"\x89PNG\r\n\x1a\npreview")
    # JSON bodies are capped far below the LoRA files (~120 kB): uploads have their own limit
    with served_app(
        data,
        api_keys=[KEY],
        max_lora_upload_mb=UPLOAD_LIMIT_MB,
        max_request_bytes=32 * 1024,
        preview_every_steps=0,
    ) as served:
        served.http.headers.update(AUTH)
        for name in ("detail", "shapes", "wide"):
            response = upload(served, files[name].read_bytes(), f"{name}.safetensors")
            assert response.status_code == 201, response.text
        yield served


def upload(app, data: bytes, filename: str, name: str | None = None, **params):
    form = {"name": name} if name is not None else None
    return app.http.post(
        "/api/v1/loras", files={"file": (filename, data)}, data=form, params=params
    )


def run(app, **request) -> dict:
    job = app.wait(app.submit(**{"prompt": "a red circle", **SMALL, **request})["id"])
    assert job["status"] in ("succeeded", "failed"), job
    return job


def test_library_lists_scanned_and_uploaded_loras(app):
    loras = {lora["name"]: lora for lora in app.http.get("/api/v1/loras").json()["loras"]}
    assert sorted(loras) == ["detail", "shapes", "style", "wide"]
    style, shapes = loras["style"], loras["shapes"]
    assert style["format"] == "diffusers" and style["rank"] == 4
    assert style["preview_url"].startswith("/api/v1/loras/style/preview")
    preview = app.http.get(style["preview_url"])
    assert preview.status_code == 200 and preview.content.startswith(b"\x89PNG")
    assert shapes["format"] == "kohya" and shapes["base_model"] == "sd1"
    assert shapes["trigger_words"][:2] == ["red circle", "blue square"]
    assert app.http.get("/api/v1/loras/detail/preview").status_code == 404
    form = app.http.get("/openapi.json").json()["paths"]["/api/v1/loras"]["post"]["requestBody"]
    assert "file" in form["content"]["multipart/form-data"]["schema"]["properties"]


def test_metadata_edit_search_and_delete(app, files):
    response = app.http.put(
        "/api/v1/loras/detail",
        json={"title": "Fine detail", "tags": ["detail", "photo"], "default_weight": 0.8},
    )
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "Fine detail"
    assert app.http.get("/api/v1/loras/detail").json()["tags"] == ["detail", "photo"]
    names = lambda **q: [x["name"] for x in app.http.get("/api/v1/loras", params=q).json()["loras"]]  # noqa: E731
    assert names(q="fine") == ["detail"]
    assert names(tag="photo") == ["detail"]
    assert names(base="sd1") == ["shapes"]
    assert app.http.put("/api/v1/loras/detail", json={"default_weight": 5}).status_code == 422
    assert app.http.put("/api/v1/loras/detail", json={"colour": "red"}).status_code == 422
    assert app.http.put("/api/v1/loras/nope", json={"title": "x"}).status_code == 404
    assert upload(app, files["detail"].read_bytes(), "temp.safetensors").status_code == 201
    assert app.http.delete("/api/v1/loras/temp").status_code == 204
    assert app.http.get("/api/v1/loras/temp").status_code == 404
    assert app.http.delete("/api/v1/loras/temp").status_code == 404


def test_state_changing_routes_need_the_api_key(app, files):
    anonymous = {"Authorization": ""}
    response = app.http.post(
        "/api/v1/loras",
        files={"file": ("x.safetensors", files["detail"].read_bytes())},
        headers=anonymous,
    )
    assert response.status_code == 401
    assert app.http.put("/api/v1/loras/detail", json={}, headers=anonymous).status_code == 401
    assert app.http.delete("/api/v1/loras/detail", headers=anonymous).status_code == 401
    assert app.http.post("/api/v1/loras/rescan", headers=anonymous).status_code == 401
    assert app.http.get("/api/v1/loras", headers=anonymous).status_code == 200


def test_upload_conflicts_overwrite_and_name_field(app, files):
    data = files["detail"].read_bytes()
    assert upload(app, data, "detail.safetensors").status_code == 409
    response = upload(app, data, "anything.bin.safetensors", name="renamed")
    assert response.status_code == 201 and response.json()["name"] == "renamed"
    replaced = upload(app, files["style"].read_bytes(), "renamed.safetensors", overwrite="true")
    assert replaced.status_code == 201
    assert replaced.json()["size_bytes"] == len(files["style"].read_bytes())
    assert app.http.delete("/api/v1/loras/renamed").status_code == 204


def _huge_header() -> bytes:
    return struct.pack("<Q", 2**40) + b"{}"


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _no_lora_keys() -> bytes:
    header = json.dumps({"weight": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}})
    return struct.pack("<Q", len(header)) + header.encode() + b"\0\0"


@pytest.mark.parametrize(
    ("filename", "content", "status", "message"),
    [
        ("evil.ckpt", b"PK\x03\x04zip", 422, "pickle"),
        ("evil.safetensors", b"\x80\x04\x95pickle", 422, "pickle"),
        ("cut.safetensors", "truncated", 422, "truncated"),
        ("huge.safetensors", "huge", 422, "not a safetensors file"),
        ("fake.safetensors", b"just some text, not weights", 422, "not a safetensors file"),
        ("nolora.safetensors", "nolora", 422, "no LoRA weights"),
        ("../../escape.safetensors", "good", 422, "invalid LoRA name"),
        ("/etc/passwd.safetensors", "good", 422, "invalid LoRA name"),
        ("nul\0byte.safetensors", "good", 422, "invalid LoRA name"),
        ("ｗｉｄｅ.safetensors", "good", 422, "invalid LoRA name"),
        ("notes.txt", "good", 422, ".safetensors files"),
        ("big.safetensors", b"\0" * int(UPLOAD_LIMIT_MB * 1024 * 1024 + 10), 413, "limited"),
    ],
)
def test_bad_uploads_are_refused_and_leave_nothing(app, files, filename, content, status, message):
    good = files["detail"].read_bytes()
    data = (
        {
            "truncated": _truncated(good),
            "huge": _huge_header(),
            "nolora": _no_lora_keys(),
            "good": good,
        }.get(content, content)
        if isinstance(content, str)
        else content
    )
    before = sorted(p.name for p in app.args.loras_dir.iterdir())
    response = upload(app, data, filename)
    assert response.status_code == status, response.text
    assert message in response.text
    assert sorted(p.name for p in app.args.loras_dir.iterdir()) == before
    assert list((app.args.loras_dir / ".staging").iterdir()) == []


def test_bad_names_in_the_form_and_path(app, files):
    data = files["detail"].read_bytes()
    for name in ("../x", "a/b", ".hidden", "x" * 200):
        assert upload(app, data, "ok.safetensors", name=name).status_code == 422, name
    assert app.http.get("/api/v1/loras/..%2Fdata").status_code == 404


def test_weights_mixing_and_plain_jobs_after_lora_jobs(app):
    plain = app.pixels(run(app))
    zero = app.pixels(run(app, loras=[{"name": "style", "weight": 0}]))
    assert np.array_equal(zero, plain)
    style = app.pixels(run(app, loras=[{"name": "style", "weight": 1}]))
    assert np.abs(style.astype(int) - plain).max() > 20
    detail = app.pixels(run(app, loras=[{"name": "detail", "weight": 1}]))
    both = app.pixels(
        run(app, loras=[{"name": "style", "weight": 1}, {"name": "detail", "weight": 1}])
    )
    assert not np.array_equal(both, style) and not np.array_equal(both, detail)
    assert np.array_equal(app.pixels(run(app)), plain)
    kohya = app.pixels(run(app, loras=[{"name": "shapes", "weight": 0.8}]))
    assert not np.array_equal(kohya, plain)


def test_a_trained_lora_changes_what_the_trained_model_draws(app, tmp_path):
    """A LoRA trained by the test on `tiny-shapes` to say green where the prompt says red:
    at weight 1 the red square comes out green, at weight 0 (and without it) it is red."""
    path = write_colour_swap_lora(tmp_path / "red_to_green.safetensors")
    assert upload(app, path.read_bytes(), path.name).status_code == 201
    square = {"model": TINY_SHAPES, "prompt": "a red square on a white background"}
    drawn = {}
    for weight in (None, 0.0, 1.0):
        loras = [] if weight is None else [{"name": "red_to_green", "weight": weight}]
        jobs = [run(app, **square, steps=20, seed=seed, loras=loras) for seed in (1, 2)]
        drawn[weight] = [judge(app.pixels(job))[:2] for job in jobs]
    assert drawn[None] == drawn[0.0] == [("white", "red")] * 2
    assert drawn[1.0] == [("white", "green")] * 2


def test_prompt_tags_work_like_the_loras_field(app):
    by_field = run(app, loras=[{"name": "style", "weight": 0.7}])
    by_tag = run(app, prompt="a red circle <lora:style:0.7>")
    assert by_tag["status"] == "succeeded", by_tag["error"]
    assert by_tag["request"]["prompt"] == "a red circle"
    assert by_tag["request"]["loras"] == [{"name": "style", "weight": 0.7}]
    assert np.array_equal(app.pixels(by_tag), app.pixels(by_field))
    parameters = app.image(by_tag["images"][0]["url"]).info["parameters"]
    assert parameters.splitlines()[0] == "a red circle <lora:style:0.7>"
    # an explicit entry wins over a tag of the same name
    job = app.submit(
        prompt="a red circle <lora:style:0.2>", loras=[{"name": "style", "weight": 0.7}], **SMALL
    )
    assert job["request"]["loras"] == [{"name": "style", "weight": 0.7}]
    assert np.array_equal(app.pixels(app.wait(job["id"])), app.pixels(by_field))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "x <lora:missing:1>"}, "loras"),
        ({"prompt": "x", "loras": [{"name": "missing", "weight": 1}]}, "loras"),
        ({"prompt": "x <lora:style:9>"}, "prompt"),
        ({"prompt": "<lora:style:1>"}, "prompt"),
    ],
)
def test_unknown_or_invalid_loras_get_422(app, body, field):
    response = app.http.post("/api/v1/jobs", json={"model": "novagenia/tiny-random", **body})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == field


def test_each_lora_says_which_installed_models_it_fits(app):
    run(app)  # tiny-random is built on first use
    loras = {lora["name"]: lora for lora in app.http.get("/api/v1/loras").json()["loras"]}
    for name in ("style", "detail", "shapes"):
        assert loras[name]["fits"] == ["novagenia/tiny-random"], name
    assert loras["wide"]["fits"] == []
    assert app.http.get("/api/v1/loras/wide").json()["fits"] == []


def test_lora_for_another_architecture_is_refused_at_submit(app):
    plain = app.pixels(run(app))
    response = app.http.post(
        "/api/v1/jobs",
        json={
            "prompt": "a red circle",
            "model": "novagenia/tiny-random",
            **SMALL,
            "loras": [{"name": "wide", "weight": 1}],
        },
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][-1] == "loras"
    assert error["msg"].startswith("LoRA 'wide' does not fit model 'novagenia/tiny-random'")
    assert np.array_equal(app.pixels(run(app)), plain)
    assert run(app, loras=[{"name": "style", "weight": 1}])["status"] == "succeeded"


def test_rescan_sees_files_dropped_into_the_directory(app, files):
    (app.args.loras_dir / "dropped.safetensors").write_bytes(files["detail"].read_bytes())
    assert "dropped" in [x["name"] for x in app.http.get("/api/v1/loras").json()["loras"]]
    response = app.http.post("/api/v1/loras/rescan")
    assert response.status_code == 200
    assert "dropped" in [x["name"] for x in response.json()["loras"]]
    job = run(app, loras=[{"name": "dropped", "weight": 1}])
    assert job["status"] == "succeeded", job["error"]
