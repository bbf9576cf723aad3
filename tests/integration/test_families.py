"""Every pipeline family the engine serves (SDXL, SD3, Flux dev and schnell, PixArt-Σ,
Sana), each a tiny random model installed like a Hub download, through the served app:
capabilities in GET /models, defaults, queueing behind a running job, one batch for
compatible jobs, progress for every step, live previews, cancel, and clear refusals."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import websockets
from PIL import Image

from tests.served import TERMINAL, ServedApp, served_app
from tests.tiny_families import (
    BUILDERS,
    KOHYA_LAYERS,
    save_tiny_controlnet,
    save_tiny_family,
    write_family_lora,
    write_kohya_lora,
)

pytestmark = pytest.mark.serve

STEPS = 4
LORA_FAMILIES = ("tiny-sdxl", "tiny-sd3", "tiny-flux-dev", "tiny-sana")
SIZE = 64
EXPECTED = {  # family, default sampler, guidance, negative prompts apply
    "tiny-sdxl": ("sdxl", "euler_a", "cfg", True),
    "tiny-sd3": ("sd3", "flow_euler", "cfg", True),
    "tiny-flux-dev": ("flux", "flow_euler", "distilled", False),
    "tiny-flux-schnell": ("flux", "flow_euler", "none", False),
    "tiny-pixart-sigma": ("pixart", "dpmpp_2m", "cfg", True),
    "tiny-sana": ("sana", "flow_dpmpp_2m", "cfg", True),
}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    for name in BUILDERS:
        save_tiny_family(name, data / "models" / "tiny" / name)
    save_tiny_controlnet("tiny-sdxl", data / "models" / "tiny" / "tiny-sdxl-controlnet")
    for name in LORA_FAMILIES:
        write_family_lora(name, data / "loras" / f"{name}.safetensors", seed=1)
    for name in KOHYA_LAYERS:
        write_kohya_lora(name, data / "loras" / f"kohya-{name}.safetensors", seed=2)
    with served_app(data, preview_every_steps=2) as served:
        yield served


def model(name: str) -> str:
    return f"tiny/{name}"


def test_models_list_each_familys_capabilities(app: ServedApp):
    listed = {m["id"]: m for m in app.http.get("/api/v1/models").json()["models"]}
    for name, (family, sampler, guidance, negative) in EXPECTED.items():
        capabilities = listed[model(name)]["capabilities"]
        assert capabilities["family"] == family
        assert capabilities["default_sampler"] == sampler
        assert capabilities["guidance"] == guidance
        assert capabilities["negative_prompt"] is negative
        assert capabilities["loras"] is (family != "pixart")
        assert capabilities["default_sampler"] in listed[model(name)]["samplers"]
    flow = {"flow_euler", "flow_heun", "flow_dpmpp_2m", "flow_unipc"}
    assert set(listed[model("tiny-sd3")]["samplers"]) == flow
    assert set(listed[model("tiny-flux-dev")]["samplers"]) == flow - {"flow_heun"}
    assert "flow_euler" not in listed[model("tiny-pixart-sigma")]["samplers"]
    schnell = listed[model("tiny-flux-schnell")]["capabilities"]
    assert (schnell["default_steps"], schnell["default_guidance"]) == (4, 0.0)


def run_two_behind_a_blocker(app: ServedApp, name: str) -> tuple[list[dict], list[dict]]:
    """Subscribes to every event first, holds the replica busy with a long job of the
    same model, queues two compatible jobs, and collects events until both end."""
    requests = [
        {"prompt": prompt, "model": model(name), "steps": STEPS, "width": SIZE, "height": SIZE}
        for prompt in ("a red circle", "a cat photo")
    ]

    async def collect() -> tuple[list[dict], list[dict]]:
        loop = asyncio.get_running_loop()
        async with websockets.connect(app.ws_url) as socket_:
            with ThreadPoolExecutor(2) as pool:
                blocker = await loop.run_in_executor(
                    pool,
                    lambda: app.submit(prompt="busy", model=model(name), steps=150, width=SIZE),
                )
                await loop.run_in_executor(pool, app.wait_status, blocker["id"], "running")
                jobs = await asyncio.gather(
                    *(loop.run_in_executor(pool, lambda r=r: app.submit(**r)) for r in requests)
                )
            open_jobs = {job["id"] for job in jobs}
            events = []
            async with asyncio.timeout(120):
                while open_jobs:
                    event = json.loads(await socket_.recv())
                    if event.get("job_id") in {job["id"] for job in jobs}:
                        events.append(event)
                        if event["type"] in TERMINAL:
                            open_jobs.discard(event["job_id"])
            return jobs, events

    jobs, events = asyncio.run(collect())
    return [app.job(job["id"]) for job in jobs], events


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_family_runs_batched_with_progress_and_previews(app: ServedApp, name: str):
    family, sampler, guidance, _ = EXPECTED[name]
    jobs, events = run_two_behind_a_blocker(app, name)
    assert [job["status"] for job in jobs] == ["succeeded", "succeeded"], jobs
    assert len({job["started_at"] for job in jobs}) == 1, "not claimed as one batch"
    for job in jobs:
        mine = [e for e in events if e["job_id"] == job["id"]]
        assert [e["step"] for e in mine if e["type"] == "progress"] == list(range(1, STEPS + 1))
        assert [e["step"] for e in mine if e["type"] == "preview"] == [2]
        assert job["request"]["sampler"] == sampler
        assert job["images"][0]["width"] == job["images"][0]["height"] == SIZE
        image = app.image(job["images"][0]["url"])
        assert image.size == (SIZE, SIZE)
    first, second = (app.pixels(job) for job in jobs)
    assert (first != second).any(), "two prompts and seeds gave one picture"


@pytest.mark.parametrize("name", ["tiny-flux-dev", "tiny-pixart-sigma", "tiny-sana"])
def test_cancel_stops_a_running_job_of_each_callback_kind(app: ServedApp, name: str):
    job = app.submit(prompt="slow", model=model(name), steps=150, width=256, height=256)
    app.wait_status(job["id"], "running")
    while (app.job(job["id"])["progress"] or {}).get("step", 0) < 2:
        time.sleep(0.01)
    assert app.http.delete(f"/api/v1/jobs/{job['id']}").status_code == 200
    done = app.wait(job["id"])
    assert done["status"] == "cancelled"
    assert done["progress"]["step"] < 150


def test_defaults_come_from_the_models_family(app: ServedApp):
    job = app.wait(
        app.submit(prompt="a cat", model=model("tiny-flux-schnell"), width=SIZE, height=SIZE)["id"]
    )
    assert job["status"] == "succeeded"
    request = job["request"]
    assert (request["steps"], request["guidance_scale"], request["sampler"]) == (
        4,
        0.0,
        "flow_euler",
    )


@pytest.mark.parametrize(
    ("name", "fields", "field", "words"),
    [
        ("tiny-flux-dev", {"negative_prompt": "blur"}, "negative_prompt", "negative prompt"),
        ("tiny-flux-schnell", {"guidance_scale": 3.5}, "guidance_scale", "takes no guidance"),
        ("tiny-sd3", {"sampler": "euler_a"}, "sampler", "flow_euler"),
        ("tiny-pixart-sigma", {"sampler": "flow_euler"}, "sampler", "dpmpp_2m"),
        ("tiny-pixart-sigma", {"prompt": "a cat <lora:anything:1>"}, "loras", "not supported"),
        ("tiny-flux-dev", {"loras": [{"name": "tiny-sdxl"}]}, "loras", "does not fit"),
        ("tiny-sdxl", {"speed": "turbo"}, "speed", "'quality' or 'fast'"),
        ("tiny-sd3", {"hires": {"upscaler": "latent"}}, "hires", "use lanczos"),
    ],
)
def test_requests_the_family_cannot_honour_get_a_clear_422(app, name, fields, field, words):
    body = {"prompt": "a cat", "model": model(name), **fields}
    response = app.http.post("/api/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]
    assert words in error["msg"]


def test_a1111_euler_on_flux_means_the_flow_euler(app: ServedApp):
    response = app.http.post(
        "/sdapi/v1/txt2img",
        json={
            "prompt": "a cat",
            "sampler_name": "Euler",
            "steps": 2,
            "width": SIZE,
            "height": SIZE,
            "override_settings": {"sd_model_checkpoint": model("tiny-flux-dev")},
        },
        timeout=120,
    )
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert info["sampler_name"] == "Euler (flow)"
    assert info["cfg_scale"] == 3.5  # A1111's default cfg_scale is not Flux's guidance


@pytest.mark.parametrize(
    ("name", "lora"),
    [(name, name) for name in LORA_FAMILIES] + [(name, f"kohya-{name}") for name in KOHYA_LAYERS],
)
def test_a_lora_for_the_family_changes_the_picture_and_weight_zero_does_not(app, name, lora):
    def draw(loras: list[dict]) -> dict:
        body = {"prompt": "a cat", "model": model(name), "steps": 2, "seed": 5, "loras": loras}
        job = app.wait(app.submit(**body, width=SIZE, height=SIZE)["id"])
        assert job["status"] == "succeeded", job
        return job

    plain = app.pixels(draw([]))
    adapted = app.pixels(draw([{"name": lora, "weight": 1.0}]))
    off = app.pixels(draw([{"name": lora, "weight": 0.0}]))
    # weight 0 leaves the picture (within the rounding of the adapter's wrapped layers:
    # Sana's came out 1 level off in places); the LoRA itself moves it far more
    assert np.abs(plain.astype(int) - off).max() <= 2
    assert np.abs(plain.astype(int) - adapted).max() > 5
    fits = app.http.get(f"/api/v1/loras/{lora}").json()["fits"]
    assert model(name) in fits


def test_kohya_loras_fit_only_their_own_family(app: ServedApp):
    """Layers in the original architectures' naming tell the family: kohya's SDXL UNet
    blocks fit the SDXL model only, kohya's Flux blocks the Flux models only, and any
    other model with them is a clear 422."""
    fits = {
        lora: app.http.get(f"/api/v1/loras/kohya-{lora}").json()["fits"] for lora in KOHYA_LAYERS
    }
    assert fits["tiny-sdxl"] == [model("tiny-sdxl")]
    assert sorted(fits["tiny-flux-dev"]) == [model("tiny-flux-dev"), model("tiny-flux-schnell")]
    body = {
        "prompt": "a cat",
        "model": model("tiny-sd3"),
        "loras": [{"name": "kohya-tiny-flux-dev"}],
    }
    response = app.http.post("/api/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    assert "does not fit" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_speed_fast_caches_steps_of_every_family(app: ServedApp, name: str):
    """Attention reuse attaches to each family's denoiser: the picture changes a little,
    and its PNG parameters say how it was made."""

    def draw(speed: str) -> dict:
        body = {"prompt": "a cat", "model": model(name), "steps": 10, "seed": 9, "speed": speed}
        job = app.wait(app.submit(**body, width=SIZE, height=SIZE)["id"])
        assert job["status"] == "succeeded", job
        return job

    full, fast = draw("quality"), draw("fast")
    assert (app.pixels(full) != app.pixels(fast)).any()
    assert "Speed: fast" in app.image(fast["images"][0]["url"]).info["parameters"]
    assert "Speed" not in app.image(full["images"][0]["url"]).info["parameters"]


@pytest.mark.parametrize("name", ["tiny-sdxl", "tiny-sd3", "tiny-flux-dev", "tiny-flux-schnell"])
def test_image_inputs_run_on_every_family_that_takes_them(app: ServedApp, name: str):
    """img2img and inpainting through each family's own AutoPipeline (random weights:
    only what the input and mask decide is checked): the input changes the picture; the
    part a mask leaves black comes back closer to what an empty mask gives than the
    part it covers (a random VAE's attention mixes the whole picture, so not equal)."""

    def data_url(picture: Image.Image) -> str:
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()

    def half_white(left: bool) -> str:
        picture = Image.new("RGB", (SIZE, SIZE), "black")
        picture.paste(
            (255, 255, 255), (0, 0, SIZE // 2, SIZE) if left else (SIZE // 2, 0, SIZE, SIZE)
        )
        return data_url(picture)

    def draw(init: str, **fields) -> np.ndarray:
        body = {"prompt": "a cat", "model": model(name), "steps": STEPS, "seed": 4}
        job = app.wait(app.submit(**body, init_image=init, **fields)["id"])
        assert job["status"] == "succeeded", job["error"]
        assert (job["request"]["width"], job["request"]["height"]) == (SIZE, SIZE)
        return app.pixels(job).astype(int)

    bright_left, bright_right = (
        draw(half_white(True), strength=0.5),
        draw(half_white(False), strength=0.5),
    )
    assert np.abs(bright_left - bright_right).mean() > 1

    inpaint = {"strength": 1.0, "mask_blur": 0}
    kept = draw(half_white(True), mask=data_url(Image.new("RGB", (SIZE, SIZE))), **inpaint)
    redrawn = draw(half_white(True), mask=half_white(True), **inpaint)  # the left half
    right, left = slice(SIZE // 2 + 8, None), slice(None, SIZE // 2 - 8)
    same_right = np.abs(redrawn[:, right] - kept[:, right]).mean()
    new_left = np.abs(redrawn[:, left] - kept[:, left]).mean()
    assert new_left > 3 and same_right < new_left * 0.75, (same_right, new_left)


def test_a_controlnet_guides_sdxl_and_is_refused_elsewhere(app: ServedApp):
    """A ControlNet made for SDXL (from the tiny SDXL UNet, random): its units change
    SDXL's picture in txt2img, img2img and inpainting; another family or an SD model
    refuses it at submit."""
    listed = app.http.get("/api/v1/controlnet/models").json()["controlnets"]
    controlnet = next(c for c in listed if c["id"] == "tiny/tiny-sdxl-controlnet")
    assert controlnet["family"] == "sdxl"
    picture = Image.new("RGB", (SIZE, SIZE), "black")
    picture.paste((255, 255, 255), (8, 8, SIZE // 2, SIZE // 2))
    image = app.upload(picture)["id"]
    unit = {"model": "tiny/tiny-sdxl-controlnet", "image": image, "preprocessor": "canny"}
    base = {"prompt": "a cat", "model": model("tiny-sdxl"), "steps": STEPS, "seed": 5}
    for extra in ({}, {"init_image": image}, {"init_image": image, "mask": image}):
        plain = app.wait(app.submit(**base, **extra, width=SIZE, height=SIZE)["id"])
        guided = app.wait(
            app.submit(**base, **extra, width=SIZE, height=SIZE, controlnet=[unit])["id"]
        )
        assert plain["status"] == guided["status"] == "succeeded", guided["error"]
        assert (app.pixels(plain) != app.pixels(guided)).any(), extra
    for name, words in (("tiny-sd3", "not supported"), (None, "other models")):
        body = {"prompt": "a cat", "controlnet": [unit]} | ({"model": model(name)} if name else {})
        refused = app.http.post("/api/v1/jobs", json=body)
        assert refused.status_code == 422 and words in refused.text, refused.text
