"""Faults injected for real: the JobBoard killed, a replica killed mid-job, the whole
application restarted, a pipeline that raises. Nothing may be lost or run twice."""

from __future__ import annotations

import threading
import time

import pytest
import ray

from novagenia.detached import NAMESPACE
from novagenia.embedded.random_tiny import build_tiny_random_pipeline
from tests.served import served_app

pytestmark = pytest.mark.serve

LEASE_S = 6.0


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with served_app(
        tmp_path_factory.mktemp("data"), lease_timeout_s=LEASE_S, max_batch_jobs=1
    ) as served:
        yield served


def listen(app, job_ids: list[str]) -> tuple[threading.Thread, list[dict]]:
    seen: list[dict] = []
    thread = threading.Thread(
        target=lambda: seen.extend(app.events(job_ids, timeout=180)), daemon=True
    )
    thread.start()
    return thread, seen


def test_board_killed_restarts_from_sqlite(app):
    blocker = app.submit(prompt="busy", steps=80, width=192, height=192)
    app.wait_status(blocker["id"], "running")
    queued = [app.submit(prompt=f"q{i}", steps=1, priority=i % 3) for i in range(5)]
    expected = [j["id"] for j in sorted(queued, key=lambda j: (-j["priority"], j["created_at"]))]
    all_ids = [blocker["id"], *(j["id"] for j in queued)]
    listener, seen = listen(app, all_ids)
    time.sleep(0.5)
    ray.kill(ray.get_actor(app.args.board_name, namespace=NAMESPACE), no_restart=False)
    finished = {job_id: app.wait(job_id, timeout=120) for job_id in all_ids}
    assert {job["status"] for job in finished.values()} == {"succeeded"}
    assert finished[blocker["id"]]["attempts"] == 1  # its worker reported to the new board
    started = sorted(queued, key=lambda j: finished[j["id"]]["started_at"])
    assert [j["id"] for j in started] == expected
    listener.join(timeout=60)
    terminal = [e["job_id"] for e in seen if e["type"] in ("succeeded", "failed", "cancelled")]
    assert sorted(set(terminal)) == sorted(all_ids)


def diffusion_replicas(app) -> list[str]:
    """Names of the live Diffusion replica actors (Serve names them app#deployment#id)."""
    prefix = f"SERVE_REPLICA::{app.args.app_name}#Diffusion#"
    return [
        actor["name"]
        for actor in ray.util.list_named_actors(all_namespaces=True)
        if actor["name"].startswith(prefix)
    ]


def test_replica_killed_mid_job_is_requeued_and_finishes_elsewhere(app):
    job = app.submit(prompt="doomed replica", steps=100, width=192, height=192)
    running = app.wait_status(job["id"], "running")
    while (app.job(job["id"])["progress"] or {}).get("step", 0) < 2:
        time.sleep(0.02)
    [replica] = diffusion_replicas(app)
    ray.kill(ray.get_actor(replica, namespace="serve"), no_restart=True)
    done = app.wait(job["id"], timeout=180)
    assert done["status"] == "succeeded", done["error"]
    assert done["attempts"] == 2
    assert done["worker"] != running["worker"]


def test_pipeline_error_fails_the_job_cleanly_and_the_replica_keeps_serving(app):
    # A model whose UNet expects another text-encoder width: loads, then raises mid-run.
    pipeline = build_tiny_random_pipeline()
    from diffusers import UNet2DConditionModel

    unet_config = dict(pipeline.unet.config)
    unet_config["cross_attention_dim"] = 48
    pipeline.unet = UNet2DConditionModel.from_config(unet_config)
    pipeline.save_pretrained(app.args.models_dir / "test" / "mismatched", safe_serialization=True)
    failed = app.wait(app.submit(prompt="boom", steps=2, model="test/mismatched")["id"])
    assert failed["status"] == "failed"
    # in words: what went wrong, not only the exception's class name
    assert failed["error"] == (
        "generation failed: mat1 and mat2 shapes cannot be multiplied (154x32 and 48x64)"
    )
    assert failed["attempts"] == 1
    assert app.wait(app.submit(prompt="fine", steps=2)["id"])["status"] == "succeeded"


def test_unloadable_model_fails_its_job_with_a_clear_error(app):
    broken = app.args.models_dir / "test" / "truncated"
    build_tiny_random_pipeline().save_pretrained(broken, safe_serialization=True)
    weights = next((broken / "unet").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])
    failed = app.wait(app.submit(prompt="x", steps=2, model="test/truncated")["id"])
    assert failed["status"] == "failed"
    assert failed["error"].startswith("model 'test/truncated' could not be loaded: ")
    assert not failed["error"].endswith(")")  # a sentence, not "(SafetensorError)"
    assert app.wait(app.submit(prompt="fine", steps=2)["id"])["status"] == "succeeded"
