"""The Model Hub end to end on real Ray Serve: search, download with WebSocket progress,
generate with the downloaded model, refusals, cancel and resume through the API, two
models served side by side, and model deletion. The Hub is `tests/hub_server.py` on
loopback; nothing reaches the internet."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import time

import pytest
import websockets
from diffusers import ControlNetModel
from PIL import Image

from novagenia.app import remove_detached_actors
from novagenia.detached import existing_actor
from novagenia.embedded.random_tiny import build_tiny_random_pipeline
from tests.hub_server import HubRepo, local_hub
from tests.served import TINY, served_app

pytestmark = pytest.mark.serve

REPO = "acme/tiny-sd"
OTHER = "acme/tiny-sd-2"
CONTROLNET = "acme/tiny-sd-canny"
UNET = "unet/diffusion_pytorch_model.safetensors"
DONE = {"succeeded", "failed", "cancelled"}


def _png_64() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


PNG_64 = _png_64()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("repos")
    pipeline = build_tiny_random_pipeline()
    pipeline.save_pretrained(root / "safetensors")
    pipeline.save_pretrained(root / "bin", safe_serialization=False)
    ControlNetModel.from_unet(pipeline.unet).save_pretrained(root / "controlnet")
    with local_hub() as server:
        server.add(HubRepo.from_dir(REPO, root / "safetensors", downloads=9))
        server.add(HubRepo.from_dir(OTHER, root / "safetensors", downloads=3))
        server.add(HubRepo.from_dir("acme/pickles", root / "bin"))
        server.add(HubRepo.from_dir("acme/gated-sd", root / "safetensors", gated=True))
        server.add(HubRepo.from_dir(CONTROLNET, root / "controlnet"))
        server.add(HubRepo.from_dir("acme/just-a-unet", root / "safetensors" / "unet"))
        yield server


@pytest.fixture(scope="module")
def app(hub, tmp_path_factory):
    # Ray workers inherit the environment of the cluster started here: the app's
    # huggingface_hub must be online, pointed (via hub_endpoint) at the local server.
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "0"
    try:
        with served_app(
            tmp_path_factory.mktemp("data"),
            hub_endpoint=hub.url,
            max_models_per_replica=1,
            preview_every_steps=0,
            autoscaling={"min_replicas": 2, "max_replicas": 2},
        ) as served:
            yield served
            remove_detached_actors(served.args)
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous


def download(app, repo: str) -> tuple[dict, list[dict]]:
    """POSTs a download while listening on the WebSocket; returns the 202 body and the
    `download` events up to the final one."""

    async def run():
        async with websockets.connect(app.ws_url) as socket:
            response = await asyncio.to_thread(
                app.http.post, "/api/v1/hub/downloads", json={"repo_id": repo}
            )
            assert response.status_code == 202, response.text
            events = []
            async with asyncio.timeout(120):
                while True:
                    event = json.loads(await socket.recv())
                    if event["type"] != "download":
                        continue
                    assert event["job_id"] == ""
                    events.append(event["download"])
                    if event["download"]["status"] in DONE:
                        return response.json(), events

    return asyncio.run(run())


def wait_download(app, download_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = app.http.get(f"/api/v1/hub/downloads/{download_id}").json()
        if body["status"] in DONE:
            return body
        time.sleep(0.05)
    raise TimeoutError(download_id)


def models(app) -> dict[str, dict]:
    response = app.http.get("/api/v1/models")
    assert response.status_code == 200, response.text
    return {m["id"]: m for m in response.json()["models"]}


def test_the_downloader_starts_with_the_first_download(app):
    """A server that never downloads runs no downloader process (it imports torch)."""
    assert existing_actor(app.args.downloader_name) is None
    assert app.http.get("/api/v1/hub/downloads").json() == {"downloads": []}
    missing = app.http.get("/api/v1/hub/downloads/nope")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no download with id nope"}
    assert app.http.delete("/api/v1/hub/downloads/nope").status_code == 404
    assert existing_actor(app.args.downloader_name) is None  # the next test starts it


def test_search_through_the_api(app):
    response = app.http.get("/api/v1/hub/search", params={"q": "tiny", "limit": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["offline"] is False
    found = {m["id"]: m for m in body["models"]}
    assert list(found)[:2] == [REPO, OTHER]  # most downloaded first
    assert found[REPO]["pipeline_class"] == "StableDiffusionPipeline"
    assert CONTROLNET in found  # ControlNets install from the Hub too
    assert app.http.get("/api/v1/hub/search", params={"limit": 0}).status_code == 422


def test_download_with_progress_then_generate(app):
    assert REPO not in models(app)
    started, events = download(app, REPO)
    assert existing_actor(app.args.downloader_name) is not None
    assert started["status"] in ("queued", "running") and started["model_id"] == REPO
    final = events[-1]
    assert final["status"] == "succeeded", final["error"]
    assert final["bytes_done"] == final["bytes_total"] > 5_000_000
    assert final["files_done"] == final["files_total"]
    assert [e["bytes_done"] for e in events] == sorted(e["bytes_done"] for e in events)
    assert app.http.get(f"/api/v1/hub/downloads/{started['id']}").json() == final
    listed = app.http.get("/api/v1/hub/downloads").json()["downloads"]
    assert started["id"] in [d["id"] for d in listed]
    installed = models(app)[REPO]
    assert installed["source"] == "local" and installed["native_size"] == 128
    job = app.wait(app.submit(prompt="a red circle", model=REPO, steps=2, seed=3)["id"])
    assert job["status"] == "succeeded", job["error"]
    assert app.image(job["images"][0]["url"]).size == (128, 128)
    assert job["worker"] in models(app)[REPO]["loaded_on"]


def test_refusals_are_clear(app, hub):
    def post(repo_id: str):
        return app.http.post("/api/v1/hub/downloads", json={"repo_id": repo_id})

    refused = post("acme/pickles")
    assert refused.status_code == 422 and "only .bin weights" in refused.json()["detail"]
    assert not any(r.path.endswith(".bin") for r in hub.log)
    assert post("acme/missing").status_code == 404
    gated = post("acme/gated-sd")
    assert gated.status_code == 401 and "HF_TOKEN" in gated.json()["detail"]
    assert post("not a repo").status_code == 422
    assert app.http.get("/api/v1/hub/downloads/nope").status_code == 404
    assert app.http.delete("/api/v1/hub/downloads/nope").status_code == 404
    unknown = app.http.post("/api/v1/jobs", json={"prompt": "x", "model": "acme/missing"})
    assert unknown.status_code == 422


def test_a_controlnet_installs_from_the_hub_and_guides_jobs(app):
    started, events = download(app, CONTROLNET)
    assert events[-1]["status"] == "succeeded", events[-1]["error"]
    listed = app.http.get("/api/v1/controlnet/models").json()["controlnets"]
    assert {"id": CONTROLNET, "source": "local", "family": "sd"}.items() <= {
        c["id"]: c for c in listed
    }[CONTROLNET].items()
    assert CONTROLNET not in models(app)
    unit = {"model": CONTROLNET, "image": "data:image/png;base64," + PNG_64, "weight": 0.7}
    job = app.wait(app.submit(prompt="a circle", model=TINY, steps=2, controlnet=[unit])["id"])
    assert job["status"] == "succeeded", job["error"]
    again = app.http.post("/api/v1/hub/downloads", json={"repo_id": CONTROLNET})
    assert again.status_code == 409 and "controlnet/models" in again.json()["detail"]
    unet = app.http.post("/api/v1/hub/downloads", json={"repo_id": "acme/just-a-unet"})
    assert unet.status_code == 422 and "UNet2DConditionModel" in unet.json()["detail"]
    embedded = app.http.delete("/api/v1/controlnet/models/novagenia/tiny-shapes-canny")
    assert embedded.status_code == 403
    assert app.http.delete("/api/v1/controlnet/models/acme/none").status_code == 404
    assert app.http.delete(f"/api/v1/controlnet/models/{CONTROLNET}").status_code == 204
    listed = app.http.get("/api/v1/controlnet/models").json()["controlnets"]
    assert CONTROLNET not in [c["id"] for c in listed]
    gone = app.http.post("/api/v1/jobs", json={"prompt": "x", "model": TINY, "controlnet": [unit]})
    assert gone.status_code == 422 and "unknown ControlNet" in gone.text


def test_cancel_then_resume_through_the_api(app, hub):
    release = hub.pause_file(OTHER, UNET)
    response = app.http.post("/api/v1/hub/downloads", json={"repo_id": OTHER})
    assert response.status_code == 202, response.text
    first = response.json()
    assert hub.paused[f"{OTHER}/{UNET}"].wait(60)
    cancelling = app.http.delete(f"/api/v1/hub/downloads/{first['id']}")
    assert cancelling.status_code == 200, cancelling.text
    release.set()
    assert wait_download(app, first["id"])["status"] == "cancelled"
    assert OTHER not in models(app)
    again = app.http.post("/api/v1/hub/downloads", json={"repo_id": OTHER})
    assert again.status_code == 202, again.text
    resumed = wait_download(app, again.json()["id"])
    assert resumed["status"] == "succeeded", resumed["error"]
    for name in hub.repos[OTHER].files:
        assert len(hub.gets(OTHER, name)) == (2 if name == UNET else 1), name
    assert OTHER in models(app)


def test_two_models_served_side_by_side(app):
    """2 replicas holding 1 model each, both the embedded one: while one of them loads
    OTHER, the other keeps finishing jobs for the embedded model."""
    for _ in range(10):  # until both replicas hold the embedded model
        # Four unbatchable jobs: a replica takes two tickets, so the others go elsewhere.
        warm = [app.submit(prompt="warm", steps=20 + i, width=64, height=64) for i in range(4)]
        assert all(app.wait(job["id"])["status"] == "succeeded" for job in warm)
        if len(models(app)[TINY]["loaded_on"]) == 2:
            break
    assert len(models(app)[TINY]["loaded_on"]) == 2
    other = app.submit(prompt="other", model=OTHER, steps=2, width=64, height=64)
    tiny = [app.submit(prompt="tiny", steps=2, width=64, height=64) for _ in range(8)]
    other = app.wait(other["id"])
    assert other["status"] == "succeeded", other["error"]
    tiny = [app.wait(job["id"]) for job in tiny]
    assert all(job["status"] == "succeeded" for job in tiny)
    # `started_at` of the OTHER job is when it was claimed, after its model loaded: jobs
    # for the loaded model started meanwhile were not held up by that load. (Finishing
    # inside the window too would depend on how long a tiny load takes on a busy CPU.)
    meanwhile = [
        job for job in tiny if other["created_at"] < job["started_at"] < other["started_at"]
    ]
    assert meanwhile, "no job for the loaded model started while the other loaded"
    assert all(job["worker"] != other["worker"] for job in meanwhile)
    per_replica: dict[str, list[str]] = {}
    for model_id, model in models(app).items():
        for worker in model["loaded_on"]:
            per_replica.setdefault(worker, []).append(model_id)
    assert per_replica and all(len(held) == 1 for held in per_replica.values())


def test_delete_model(app):
    assert app.http.delete(f"/api/v1/models/{TINY}").status_code == 403
    assert app.http.delete("/api/v1/models/acme/none").status_code == 404
    busy = app.submit(prompt="slow", model=OTHER, steps=150, width=256, height=256)
    refused = app.http.delete(f"/api/v1/models/{OTHER}")
    assert refused.status_code == 409 and "running" in refused.json()["detail"]
    app.http.delete(f"/api/v1/jobs/{busy['id']}")
    assert app.wait(busy["id"])["status"] == "cancelled"
    deleted = app.http.delete(f"/api/v1/models/{OTHER}")
    assert deleted.status_code == 204, deleted.text
    assert OTHER not in models(app)
    gone = app.http.post("/api/v1/jobs", json={"prompt": "x", "model": OTHER})
    assert gone.status_code == 422
