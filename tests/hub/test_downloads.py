"""Model Hub logic (`novagenia.hub`) in-process against the local Hub-compatible server:
search, planning and refusals, downloads with progress, resume, cancel, install."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import constants

from novagenia.embedded.random_tiny import build_tiny_random_pipeline
from novagenia.hub.downloader import HubDownloads, failure_message
from novagenia.hub.errors import (
    HubAuthRequired,
    HubConflict,
    HubDiskFull,
    HubRefused,
    HubRepoNotFound,
)
from novagenia.hub.plan import partial_dir, plan_download
from novagenia.hub.protocol import ACTIVE, DownloadRequest, DownloadStatus
from novagenia.hub.search import search_models
from novagenia.hub.settings import HubSettings
from novagenia.models import ModelRegistry
from tests.hub_server import TOKEN, HubRepo, local_hub

TINY = "acme/tiny-sd"
UNET = "unet/diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    """The embedded random model saved as a Hub repo would hold it, and as .bin only."""
    root = tmp_path_factory.mktemp("repos")
    pipeline = build_tiny_random_pipeline()
    pipeline.save_pretrained(root / "safetensors")
    pipeline.save_pretrained(root / "bin", safe_serialization=False)
    return {"safetensors": root / "safetensors", "bin": root / "bin"}


@pytest.fixture
def hub(tiny_dirs, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with local_hub() as server:
        server.add(HubRepo.from_dir(TINY, tiny_dirs["safetensors"], downloads=50))
        server.add(HubRepo.from_dir("acme/pickles", tiny_dirs["bin"], downloads=10))
        server.add(HubRepo.from_dir("acme/gated-sd", tiny_dirs["safetensors"], gated=True))
        yield server


def settings(hub, token: str | None = None) -> HubSettings:
    return HubSettings(endpoint=hub.url, token=token)


def run_download(hub, models_dir: Path, repo: str = TINY, **request):
    """Starts a download, waits for it to finish, returns (download, published events)."""
    events: list[dict] = []

    async def publish(download: dict) -> None:
        events.append(download)

    async def main():
        downloads = HubDownloads(models_dir, settings(hub), publish)
        started = await downloads.start(DownloadRequest(repo_id=repo, **request))
        while downloads.get(started.id).status in ACTIVE:
            await asyncio.sleep(0.05)
        return downloads.get(started.id)

    return asyncio.run(main()), events


def test_search_lists_text_to_image_diffusers_models(hub):
    found = search_models(settings(hub), "sd", 10, "downloads")
    assert not found.offline
    assert [m.id for m in found.models] == [TINY, "acme/gated-sd"]
    first = found.models[0]
    assert first.pipeline_class == "StableDiffusionPipeline"
    assert first.downloads == 50 and not first.gated and "diffusers" in first.tags
    assert first.last_modified is not None
    assert found.models[1].gated
    assert [m.id for m in search_models(settings(hub), "", 1, "downloads").models] == [TINY]


def test_search_offline_answers_empty(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    found = search_models(HubSettings(endpoint="http://127.0.0.1:9"), "sd", 5, "likes")
    assert found.offline and found.models == []


SILENT_HUB_SEARCH = """
import asyncio, os, socket, sys, time
from huggingface_hub import constants
from novagenia.hub.errors import HubUnavailable
from novagenia.hub.search import search_within
from novagenia.hub.settings import HubSettings
constants.HF_HUB_OFFLINE = False
with socket.socket() as silent:  # accepts connections, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    started = time.monotonic()
    try:
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        asyncio.new_event_loop().run_until_complete(
            search_within(HubSettings(endpoint=endpoint), "sd", 5, "likes", 0.5)
        )
    except HubUnavailable as exc:
        print(f"{time.monotonic() - started:.3f} {exc}", flush=True)
os._exit(0)  # not waiting for the abandoned search thread's retries
"""


def test_search_says_quickly_when_the_hub_does_not_answer():
    """A Hub that accepts connections and never answers (as a dead network looks). In a
    process of its own: the abandoned search thread goes on retrying, and a retry that
    fails to connect closes huggingface_hub's shared HTTP client, under other tests'
    downloads."""
    result = subprocess.run(
        [sys.executable, "-c", SILENT_HUB_SEARCH],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    waited, _, message = result.stdout.strip().partition(" ")
    assert "cannot be reached" in message, result.stdout + result.stderr
    assert float(waited) < 5  # the answer came at the deadline, not after the Hub's retries


def test_download_installs_a_loadable_model_with_progress(hub, tmp_path):
    download, events = run_download(hub, tmp_path)
    assert download.status is DownloadStatus.succeeded, download.error
    assert download.bytes_done == download.bytes_total > 5_000_000
    assert download.files_done == download.files_total
    assert events[-1]["status"] == "succeeded"
    done = [event["bytes_done"] for event in events]
    assert done == sorted(done)
    assert events[-1]["bytes_done"] == events[-1]["bytes_total"]
    installed = tmp_path / "acme" / "tiny-sd"
    assert (installed / UNET).is_file()
    assert not (installed / ".cache").exists()
    assert not partial_dir(tmp_path, TINY).exists()
    info = ModelRegistry(tmp_path).get(TINY)
    assert (info.source, info.pipeline_class, info.native_size) == (
        "local",
        "StableDiffusionPipeline",
        128,
    )
    with pytest.raises(HubConflict):
        plan_download(settings(hub), DownloadRequest(repo_id=TINY), tmp_path)


def test_pickled_only_unknown_and_gated_repos_are_refused(hub, tmp_path):
    with pytest.raises(HubRefused, match=r"only \.bin weights .*: refused"):
        plan_download(settings(hub), DownloadRequest(repo_id="acme/pickles"), tmp_path)
    assert not any(r.path.endswith(".bin") for r in hub.log)
    assert not partial_dir(tmp_path, "acme/pickles").exists()
    with pytest.raises(HubRepoNotFound):
        plan_download(settings(hub), DownloadRequest(repo_id="acme/nothing"), tmp_path)
    with pytest.raises(HubAuthRequired, match="gated"):
        plan_download(settings(hub), DownloadRequest(repo_id="acme/gated-sd"), tmp_path)
    plan = plan_download(settings(hub, TOKEN), DownloadRequest(repo_id="acme/gated-sd"), tmp_path)
    assert UNET in plan.files
    with pytest.raises(HubRefused, match="reserved"):
        plan_download(settings(hub), DownloadRequest(repo_id="novagenia/x"), tmp_path)


def test_disk_too_small_is_refused_before_downloading(hub, tiny_dirs, tmp_path):
    huge = hub.add(HubRepo.from_dir("acme/huge", tiny_dirs["safetensors"]))
    huge.declared_sizes[UNET] = 1 << 60
    with pytest.raises(HubDiskFull, match="GB more"):
        plan_download(settings(hub), DownloadRequest(repo_id="acme/huge"), tmp_path)
    assert not hub.gets("acme/huge", UNET)


def test_dropped_connection_resumes_with_a_range_request(hub, tiny_dirs, tmp_path):
    """huggingface_hub writes in `DOWNLOAD_CHUNK_SIZE` (10 MiB) chunks and, on a dropped
    connection, asks for the rest from the last whole chunk: a file of 2.5 chunks shows it."""
    chunk = constants.DOWNLOAD_CHUNK_SIZE
    big = HubRepo.from_dir("acme/big", tiny_dirs["safetensors"])
    big.files[UNET] = bytes(range(256)) * (chunk * 5 // 2 // 256)
    hub.add(big)
    hub.drop_once.add(f"acme/big/{UNET}")
    download, _ = run_download(hub, tmp_path, "acme/big")
    assert download.status is DownloadStatus.succeeded, download.error
    first, second = hub.gets("acme/big", UNET)
    size = len(big.files[UNET])
    assert first.range is None and chunk < first.sent < size
    assert second.range == f"bytes={chunk}-"  # the whole chunk received is kept
    assert second.sent == size - chunk
    assert (tmp_path / "acme" / "big" / UNET).read_bytes() == big.files[UNET]


def test_cancelled_download_resumes_without_refetching_complete_files(hub, tmp_path):
    release = hub.pause_file(TINY, UNET)
    paused = hub.paused[f"{TINY}/{UNET}"]

    async def cancel_then_resume():
        downloads = HubDownloads(tmp_path, settings(hub), _ignore)
        first = await downloads.start(DownloadRequest(repo_id=TINY))
        await asyncio.to_thread(paused.wait, 30)
        downloads.cancel(first.id)
        release.set()
        while downloads.get(first.id).status in ACTIVE:
            await asyncio.sleep(0.02)
        cancelled = downloads.get(first.id)
        assert not (tmp_path / TINY).exists()  # never installed half-way
        second = await downloads.start(DownloadRequest(repo_id=TINY))
        while downloads.get(second.id).status in ACTIVE:
            await asyncio.sleep(0.02)
        return cancelled, downloads.get(second.id)

    cancelled, resumed = asyncio.run(cancel_then_resume())
    assert cancelled.status is DownloadStatus.cancelled
    assert resumed.status is DownloadStatus.succeeded, resumed.error
    unet_gets = hub.gets(TINY, UNET)
    assert len(unet_gets) == 2  # the cancelled transfer, then the resumed one
    for name in hub.repos[TINY].files:
        if name != UNET:
            assert len(hub.gets(TINY, name)) == 1, name  # complete files: fetched once
    assert (tmp_path / TINY / UNET).read_bytes() == hub.repos[TINY].files[UNET]


def test_fp16_variant_prefers_variant_weights(hub, tiny_dirs, tmp_path):
    repo = HubRepo.from_dir("acme/fp16", tiny_dirs["safetensors"])
    repo.files["unet/diffusion_pytorch_model.fp16.safetensors"] = repo.files[UNET][:1000]
    hub.add(repo)
    fp16 = plan_download(
        settings(hub), DownloadRequest(repo_id="acme/fp16", variant="fp16"), tmp_path
    )
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in fp16.files
    assert UNET not in fp16.files
    assert "vae/diffusion_pytorch_model.safetensors" in fp16.files  # no fp16 there: default
    default = plan_download(settings(hub), DownloadRequest(repo_id="acme/fp16"), tmp_path)
    assert UNET in default.files
    assert "unet/diffusion_pytorch_model.fp16.safetensors" not in default.files
    index = json.loads(repo.files["model_index.json"])
    assert {name.split("/")[0] for name in default.files} - {"model_index.json"} <= set(index)


async def _ignore(_: dict) -> None:
    return None


def test_failures_read_as_what_to_do():
    assert "disk is full" in failure_message(OSError(errno.ENOSPC, "No space left on device"))
    assert "POST again" in failure_message(httpx2.ReadTimeout("slow"))
