"""The AUTOMATIC1111 API, driven by the real `webuiapi` client against the real app."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading

import httpx
import numpy as np
import pytest
import webuiapi
from PIL import Image

from novagenia.embedded import TINY_SHAPES
from novagenia.embedded.random_tiny import save_tiny_random
from novagenia.embedded.shapes import Sample, analyse, draw, judge, prompt_for
from tests.lora_files import write_lora
from tests.served import TINY, served_app

pytestmark = pytest.mark.serve

KEY = "a1111-test-key"
SECOND = "local/tiny-two"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    save_tiny_random(data / "models" / "local" / "tiny-two")
    write_lora(data / "loras" / "paper-cut.safetensors", seed=1)
    with served_app(data, api_keys=[KEY], default_model=TINY, max_batch_jobs=4) as served:
        yield served


@pytest.fixture(scope="module")
def api(app) -> webuiapi.WebUIApi:
    port = int(app.base_url.rsplit(":", 1)[1])
    # A1111's --api-auth is HTTP Basic; the password is the API key.
    return webuiapi.WebUIApi(host="127.0.0.1", port=port, username="me", password=KEY)


@pytest.fixture(scope="module")
def http(app):
    with httpx.Client(base_url=app.base_url, auth=("me", KEY), timeout=120) as client:
        yield client


def txt2img(api: webuiapi.WebUIApi, **overrides) -> webuiapi.WebUIApiResult:
    settings = {"prompt": "a red circle", "steps": 2, "width": 64, "height": 64}
    settings.update(overrides)
    return api.txt2img(**settings)


def test_txt2img_with_seed_returns_png_and_infotext(api):
    result = txt2img(api, seed=1234, width=64, height=96, negative_prompt="blurry")
    [image] = result.images
    assert image.format == "PNG" and image.size == (64, 96)
    info = result.info
    assert info["seed"] == 1234 and info["all_seeds"] == [1234]
    assert (info["width"], info["height"], info["steps"]) == (64, 96, 2)
    assert info["sd_model_name"] == TINY and info["negative_prompt"] == "blurry"
    assert info["infotexts"] == [image.info["parameters"]]
    assert "Seed: 1234, Size: 64x96" in info["infotexts"][0]
    raw = result.json["images"][0]
    assert not raw.startswith("data:")
    assert result.parameters["prompt"] == "a red circle"
    again = txt2img(api, seed=1234, width=64, height=96, negative_prompt="blurry")
    assert np.array_equal(np.asarray(again.image), np.asarray(image))


def test_random_seed_is_reported(api):
    result = txt2img(api, seed=-1)
    seed = result.info["seed"]
    assert 0 <= seed < 2**32 and result.info["all_seeds"] == [seed]
    assert f"Seed: {seed}," in result.info["infotexts"][0]


def test_batch_size_times_n_iter_images_with_consecutive_seeds(api):
    result = txt2img(api, seed=10, batch_size=2, n_iter=2)
    assert len(result.images) == 4
    assert result.info["all_seeds"] == [10, 11, 12, 13]
    seeds = [int(text.split("Seed: ")[1].split(",")[0]) for text in result.info["infotexts"]]
    assert seeds == [10, 11, 12, 13]
    assert len(result.info["job_ids"]) == 2
    pixels = [np.asarray(image) for image in result.images]
    assert not np.array_equal(pixels[0], pixels[1])
    single = txt2img(api, seed=12)
    assert np.abs(np.asarray(single.image).astype(int) - pixels[2].astype(int)).max() <= 2


def test_lora_tag_in_prompt_is_applied_and_kept(api, http):
    assert [lora["name"] for lora in api.get_loras()] == ["paper-cut"]
    plain = txt2img(api, prompt="a cat", seed=3)
    result = txt2img(api, prompt="a cat <lora:paper-cut:0.7>", seed=3)
    assert result.info["infotexts"][0].splitlines()[0] == "a cat <lora:paper-cut:0.7>"
    assert result.info["prompt"] == "a cat <lora:paper-cut:0.7>"
    assert not np.array_equal(np.asarray(result.image), np.asarray(plain.image))
    unknown = http.post("/sdapi/v1/txt2img", json={"prompt": "a cat <lora:nope:1>", "steps": 2})
    assert unknown.status_code == 422 and "nope" in unknown.text


@pytest.mark.parametrize(
    ("sampler", "scheduler", "label"),
    [
        ("Euler a", "automatic", "Euler a"),
        ("Euler", "Automatic", "Euler"),
        ("DPM++ 2M", "Karras", "DPM++ 2M Karras"),
        ("DPM++ 2M", "uniform", "DPM++ 2M"),
        ("DPM++ 2M Karras", None, "DPM++ 2M Karras"),
        ("DDIM", None, "DDIM"),
        ("k_euler_a", "sgm_uniform", "Euler a"),  # known to A1111, not implemented: ignored
    ],
)
def test_samplers_by_a1111_name(api, sampler, scheduler, label):
    result = txt2img(api, sampler_name=sampler, scheduler=scheduler)
    assert result.info["sampler_name"] == label
    assert f"Sampler: {label}," in result.info["infotexts"][0]


def test_a_sampler_that_does_not_apply_to_the_model_is_a_422(http):
    """tiny-random is not LCM-distilled: LCM is refused before it queues, in words."""
    response = http.post(
        "/sdapi/v1/txt2img",
        json={"prompt": "x", "steps": 2, "width": 64, "height": 64, "sampler_name": "LCM"},
    )
    assert response.status_code == 422
    assert "does not apply to model" in response.text


def test_sampler_and_scheduler_lists(api):
    names = api.util_get_sampler_names()
    assert {"Euler a", "Euler", "DPM++ 2M", "DDIM", "LCM"} <= set(names)
    dpm = next(s for s in api.get_samplers() if s["name"] == "DPM++ 2M")
    assert dpm["options"] == {"scheduler": "karras"} and "k_dpmpp_2m" in dpm["aliases"]
    assert {"automatic", "karras"} <= set(api.util_get_scheduler_names())


def wait_until(predicate, what: str, tries: int = 100_000):
    for _ in range(tries):
        value = predicate()
        if value:
            return value
    raise AssertionError(f"never happened: {what}")


def run_in_thread(function) -> tuple[threading.Thread, list]:
    results: list = []
    thread = threading.Thread(target=lambda: results.append(function()))
    thread.start()
    return thread, results


def test_progress_reports_the_running_job_and_interrupt_stops_it(app, api):
    # One more iteration than a replica batches, so one job is still queued at the end.
    n_iter = app.args.max_batch_jobs + 1
    thread, results = run_in_thread(
        lambda: txt2img(api, steps=150, width=256, height=256, seed=5, n_iter=n_iter)
    )
    progress = wait_until(
        lambda: (
            (p := api.get_progress())["state"]["job"].startswith("a1111-")
            and p["current_image"]
            and p["state"]["job_count"] == n_iter
            and p
        ),
        "a running A1111 job with a preview, and all its iterations submitted",
    )
    state = progress["state"]
    assert state["sampling_steps"] == 150 and 1 <= state["sampling_step"] < 150
    assert 0 < progress["progress"] < 1
    preview = Image.open(io.BytesIO(base64.b64decode(progress["current_image"])))
    assert min(preview.size) >= 32
    assert api.interrupt() == {}
    thread.join(timeout=300)
    [result] = results
    assert result.images == [] and result.info["all_seeds"] == []
    jobs = [app.job(job_id) for job_id in result.info["job_ids"]]
    assert {job["status"] for job in jobs} == {"cancelled"}
    assert all(job["progress"]["step"] < 150 for job in jobs if job["started_at"])
    assert jobs[-1]["started_at"] is None
    idle = wait_until(lambda: (p := api.get_progress())["state"]["job_count"] == 0 and p, "idle")
    assert idle["progress"] == 0 and idle["current_image"] is None


def test_skip_cancels_the_running_jobs_and_goes_on_with_the_rest(app, api):
    n_iter = app.args.max_batch_jobs + 1
    thread, results = run_in_thread(lambda: txt2img(api, steps=150, seed=40, n_iter=n_iter))
    wait_until(
        lambda: (
            (p := api.get_progress())["state"]["job"].startswith("a1111-")
            and p["state"]["sampling_step"] >= 1
        ),
        "a running A1111 job",
    )
    assert api.skip() == {}
    thread.join(timeout=300)
    [result] = results
    jobs = [app.job(job_id) for job_id in result.info["job_ids"]]
    assert jobs[0]["status"] == "cancelled" and jobs[-1]["status"] == "succeeded"
    kept = [k for k, job in enumerate(jobs) if job["status"] == "succeeded"]
    assert result.info["all_seeds"] == [40 + k for k in kept]
    assert len(result.images) == len(kept)


def test_client_disconnect_cancels_its_job(app, http):
    body = json.dumps({"prompt": "abandoned", "steps": 150, "width": 512, "height": 512}).encode()
    auth = base64.b64encode(f"me:{KEY}".encode()).decode()
    host, port = app.base_url.removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)))
    client.sendall(
        b"POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Basic {auth}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )

    def running_job():
        running = http.get("/api/v1/queue").json()["running"]
        return next((j for j in running if j["request"]["prompt"] == "abandoned"), None)

    job = wait_until(running_job, "the abandoned job running")
    client.close()
    final = app.wait(job["id"], timeout=300)
    assert final["status"] == "cancelled"
    assert final["progress"]["step"] < 150


def test_models_and_options(api, http):
    names = api.util_get_model_names()
    assert {TINY, SECOND} <= set(names)
    model = next(m for m in api.get_sd_models() if m["title"] == SECOND)
    assert model["model_name"] == SECOND and model["hash"] is None and model["filename"]
    assert api.util_get_current_model() == TINY
    try:
        api.util_set_model(SECOND)
        assert api.get_options()["sd_model_checkpoint"] == SECOND
        result = txt2img(api, seed=1)
        assert result.info["sd_model_name"] == SECOND
        assert f"Model: {SECOND}" in result.info["infotexts"][0]
        pinned = txt2img(api, seed=1, override_settings={"sd_model_checkpoint": f"{TINY} [abc123]"})
        assert pinned.info["sd_model_name"] == TINY
    finally:
        api.set_options({"sd_model_checkpoint": TINY})
    assert api.get_options()["sd_model_checkpoint"] == TINY
    response = http.post("/sdapi/v1/options", json={"sd_model_checkpoint": "no/such-model"})
    assert response.status_code == 422 and "sd_model_checkpoint" in response.text
    assert api.get_options()["sd_model_checkpoint"] == TINY
    assert http.post("/sdapi/v1/options", json={"sd_model_checkpoint": 3}).status_code == 422
    assert http.post("/sdapi/v1/options", json={"samples_format": "jpg"}).status_code == 200


def test_resources_clients_probe(api, http):
    assert api.get_scripts() == {"txt2img": ["controlnet"], "img2img": ["controlnet"]}
    assert api.get_cmd_flags()["api"] is True
    assert api.get_sd_vae() == [] and api.get_embeddings() == {"loaded": {}, "skipped": {}}
    missing = http.post("/sdapi/v1/extra-single-image", json={"image": "x"})
    assert missing.status_code == 404 and "not supported" in missing.json()["detail"]


def test_img2img_keeps_the_layout_and_inpaints_the_mask(api):
    """On the trained embedded model, through webuiapi's own img2img."""
    square = draw(Sample("yellow", "square", "black", 6, 6, 26))
    settings = {
        "steps": 20,
        "width": 64,
        "height": 64,
        "seed": 1,
        "cfg_scale": 6.0,
        "sampler_name": "Euler",
        "override_settings": {"sd_model_checkpoint": TINY_SHAPES},
    }
    redrawn = api.img2img(
        images=[square],
        prompt=prompt_for("red", "circle", "blue"),
        denoising_strength=0.5,
        **settings,
    )
    assert judge(redrawn.image) == ("blue", "red", "circle")
    x0, y0, _, _ = analyse(redrawn.image)["bbox"]
    assert abs(x0 - 6) <= 4 and abs(y0 - 6) <= 4  # where the input's square was
    assert redrawn.info["denoising_strength"] == 0.5
    assert "Denoising strength: 0.5" in redrawn.info["infotexts"][0]
    mask = Image.new("RGB", (64, 64), "white")
    mask.paste((0, 0, 0), (0, 0, 40, 40))  # black over the square: inverted, it is redrawn
    inpainted = api.img2img(
        images=[square],
        mask_image=mask,
        inpainting_mask_invert=1,
        mask_blur=0,
        prompt=prompt_for("green", "square", "black"),
        denoising_strength=1.0,
        **settings,
    )
    pixels = np.asarray(inpainted.image.convert("RGB")).astype(int)[:40, :40]
    green = (np.abs(pixels - (40, 180, 60)).sum(axis=-1) < 90).sum()
    yellow = (np.abs(pixels - (240, 220, 40)).sum(axis=-1) < 90).sum()
    assert green > 150 and yellow < 20


def test_img2img_refuses_what_it_cannot_do(http):
    body = {"prompt": "x", "steps": 2, "init_images": ["not base64!"]}
    response = http.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 422 and "init_images" in response.text
    two = http.post("/sdapi/v1/img2img", json={**body, "init_images": ["a", "b"]})
    assert two.status_code == 422


@pytest.mark.parametrize(("upscaler", "written"), [("Lanczos", "Lanczos"), ("Latent (bicubic)", "Latent (bicubic)"), ("R-ESRGAN 4x+", "Lanczos")])  # fmt: skip
def test_hires_fix_and_tiling_are_honoured(api, upscaler, written):
    result = txt2img(
        api,
        seed=9,
        enable_hr=True,
        hr_scale=2,
        hr_second_pass_steps=2,
        hr_upscaler=upscaler,
        tiling=True,
    )
    assert result.image.size == (128, 128)
    infotext = result.info["infotexts"][0]
    assert "Hires upscale: 2" in infotext and "Tiling: True" in infotext
    assert f"Hires upscaler: {written}," in infotext


def test_unsupported_fields_are_ignored(api):
    result = txt2img(
        api,
        seed=9,
        hr_scale=3,  # without enable_hr
        restore_faces=True,
        styles=["cinematic"],
        subseed_strength=0.5,
        override_settings={"CLIP_stop_at_last_layers": 2},
        alwayson_scripts={"something": {"args": []}},
    )
    assert result.info["all_seeds"] == [9] and result.image.size == (64, 64)


# The requests of AUTOMATIC1111's own API tests (test/test_txt2img.py, test_img2img.py,
# test_utils.py in its repository), as they send them: every one must be a 200.
A1111_TXT2IMG = {
    "batch_size": 1, "cfg_scale": 7, "denoising_strength": 0, "enable_hr": False, "eta": 0,
    "firstphase_height": 0, "firstphase_width": 0, "height": 64, "n_iter": 1,
    "negative_prompt": "", "prompt": "example prompt", "restore_faces": False, "s_churn": 0,
    "s_noise": 1, "s_tmax": 0, "s_tmin": 0, "sampler_index": "Euler a", "seed": -1,
    "seed_resize_from_h": -1, "seed_resize_from_w": -1, "steps": 3, "styles": [],
    "subseed": -1, "subseed_strength": 0, "tiling": False, "width": 64,
}  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"negative_prompt": "example negative prompt"},
        {"prompt": "((emphasis)), (emphasis1:1.1), [to:1], [from::2], [from:to:0.3], [alt|alt1]"},
        {"height": 128},
        {"enable_hr": True},  # with denoising_strength 0: upscaled, nothing redrawn
        {"tiling": True},
        {"restore_faces": True},
        {"sampler_index": "PLMS"},
        {"sampler_index": "DDIM"},
        {"sampler_index": "UniPC"},
        {"n_iter": 2},
        {"batch_size": 2},
    ],
)
def test_automatic1111s_own_txt2img_requests(http, change):
    response = http.post("/sdapi/v1/txt2img", json={**A1111_TXT2IMG, **change})
    assert response.status_code == 200, response.text
    if change.get("enable_hr"):
        info = json.loads(response.json()["info"])
        assert (info["width"], info["height"]) == (64, 64)
        assert Image.open(io.BytesIO(base64.b64decode(response.json()["images"][0]))).size == (
            128,
            128,
        )


def _b64_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"mask": "mask"},
        {"mask": "mask", "inpainting_mask_invert": True},
        {"script_name": "sd upscale", "script_args": ["", 8, "Lanczos", 2.0]},
    ],
)
def test_automatic1111s_own_img2img_requests(http, change):
    picture = draw(Sample("red", "circle", "white", 20, 30, 40)).resize((96, 96))
    mask = Image.new("RGB", (96, 96), "black")
    mask.paste((255, 255, 255), (30, 30, 70, 70))
    body = {
        **A1111_TXT2IMG,
        "denoising_strength": 0.75, "include_init_images": False,
        "init_images": [_b64_png(picture)], "inpaint_full_res": False,
        "inpaint_full_res_padding": 0, "inpainting_fill": 0, "inpainting_mask_invert": False,
        "mask": None, "mask_blur": 4, "override_settings": {}, "resize_mode": 0,
        **change,
    }  # fmt: skip
    if body["mask"] == "mask":
        body["mask"] = _b64_png(mask)
    response = http.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 200, response.text
    [image] = [Image.open(io.BytesIO(base64.b64decode(i))) for i in response.json()["images"]]
    upscaled = "script_name" in change
    assert image.size == ((192, 192) if upscaled else (64, 64))
    if upscaled:
        assert "SD upscale overlap: 8" in json.loads(response.json()["info"])["infotexts"][0]


def test_automatic1111s_own_utility_requests(http):
    before = http.get("/sdapi/v1/options").json()["send_seed"]
    assert http.post("/sdapi/v1/options", json={"send_seed": not before}).status_code == 200
    assert http.get("/sdapi/v1/options").json()["send_seed"] is (not before)
    http.post("/sdapi/v1/options", json={"send_seed": before})
    for route in (
        "cmd-flags", "samplers", "upscalers", "sd-models", "hypernetworks", "face-restorers",
        "realesrgan-models", "prompt-styles", "embeddings",
    ):  # fmt: skip
        assert http.get(f"/sdapi/v1/{route}").status_code == 200, route


def test_sd_upscale_takes_the_upscaler_by_name_or_index_and_refuses_one_it_lacks(http):
    body = {
        "prompt": "x", "steps": 2, "init_images": [_b64_png(Image.new("RGB", (64, 64)))],
        "script_name": "SD upscale", "script_args": ["", 8, 1, 2.0],  # 1: Lanczos
    }  # fmt: skip
    assert http.post("/sdapi/v1/img2img", json=body).status_code == 200
    for args, words in ((["", 8, "R-ESRGAN 4x+", 2.0], "R-ESRGAN"), ({"scale": 2}, "[info")):
        response = http.post("/sdapi/v1/img2img", json={**body, "script_args": args})
        assert response.status_code == 422 and words in response.text, response.text


def test_send_images_false_returns_only_info(http):
    response = http.post(
        "/sdapi/v1/txt2img",
        json={
            "prompt": "x",
            "steps": 2,
            "width": 64,
            "height": 64,
            "seed": 2,
            "send_images": False,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["images"] == [] and json.loads(body["info"])["all_seeds"] == [2]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"width": 100}, "width"),
        ({"height": 4096}, "height"),
        ({"steps": "many"}, "steps"),
        ({"steps": 0}, "steps"),
        ({"cfg_scale": 99}, "cfg_scale"),
        ({"seed": -5}, "seed"),
        ({"batch_size": 9}, "batch_size"),
        ({"n_iter": 0}, "n_iter"),
        ({"sampler_name": "Magic Sampler"}, "sampler_name"),
        ({"scheduler": "bogus"}, "scheduler"),
        ({"prompt": "   "}, "prompt"),
        ({"override_settings": {"sd_model_checkpoint": "nope"}}, "sd_model_checkpoint"),
        ({"override_settings": "not a dict"}, "override_settings"),
    ],
)
def test_malformed_requests_get_422(http, change, field):
    body = {"prompt": "x", "steps": 2, "width": 64, "height": 64} | change
    response = http.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 422, response.text
    assert field in json.dumps(response.json()["detail"])


def test_api_key_is_required_for_generation_and_control(app):
    with httpx.Client(base_url=app.base_url, timeout=30) as anonymous:
        body = {"prompt": "x", "steps": 2, "width": 64, "height": 64}
        assert anonymous.post("/sdapi/v1/txt2img", json=body).status_code == 401
        assert anonymous.post("/sdapi/v1/interrupt").status_code == 401
        assert anonymous.post("/sdapi/v1/options", json={}).status_code == 401
        wrong = anonymous.post("/sdapi/v1/skip", auth=("me", "wrong"))
        assert wrong.status_code == 401
        assert anonymous.get("/sdapi/v1/sd-models").status_code == 200  # reads stay open
        bearer = anonymous.post(
            "/sdapi/v1/txt2img", json=body, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert bearer.status_code == 200, bearer.text
