"""Starting the real NovaGenIA application for integration tests, and talking to it."""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import ray
import websockets
from PIL import Image
from ray import serve

from novagenia.app import build_app, remove_detached_actors
from novagenia.config import AppArgs

TERMINAL = {"succeeded", "failed", "cancelled", "expired"}
TINY = "novagenia/tiny-random"
RAY_WORKER_PORTS_END = 20_000  # Ray's default max_worker_port is 19999


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def free_port() -> int:
    """A free port between Ray's worker ports (10002-19999) and the kernel's ephemeral range.

    Ray finds ports for its own servers (metrics exporter, agents) by binding port 0, so a
    port the kernel handed out here and released could be handed to Ray next and answer
    our requests instead of the app; its workers take ports from their own range.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(RAY_WORKER_PORTS_END, low), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {RAY_WORKER_PORTS_END} and {low}")


class ServedApp:
    """A running application: its args, an HTTP client, and helpers for jobs and events."""

    def __init__(self, args: AppArgs, port: int) -> None:
        self.args = args
        self.base_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/api/v1/ws"
        self.http = httpx.Client(base_url=self.base_url, timeout=60)

    def submit(self, **request: Any) -> dict[str, Any]:
        request.setdefault("model", TINY)
        response = self.http.post("/api/v1/jobs", json=request)
        assert response.status_code == 202, response.text
        return response.json()

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait(self, job_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["status"] in TERMINAL:
                return job
            time.sleep(0.05)
        raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s")

    def wait_status(self, job_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["status"] == status:
                return job
            time.sleep(0.02)
        raise TimeoutError(f"job {job_id} never became {status}")

    def image(self, url: str) -> Image.Image:
        response = self.http.get(url)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(response.content))
        image.load()
        return image

    def upload(self, image: Image.Image) -> dict[str, Any]:
        """Stores a picture with POST /inputs; its `{id, width, height, url}`."""
        files = {"file": ("in.png", png_bytes(image), "image/png")}
        response = self.http.post("/api/v1/inputs", files=files)
        assert response.status_code == 201, response.text
        return response.json()

    def pixels(self, job: dict[str, Any], index: int = 0) -> np.ndarray:
        return np.asarray(self.image(job["images"][index]["url"]).convert("RGB"))

    def events(
        self,
        job_ids: list[str] | None = None,
        cursor: int | None = None,
        until: set[str] = TERMINAL,
        count: int | None = None,
        timeout: float = 120,
    ) -> list[dict[str, Any]]:
        """Collects WebSocket events until every job hit an `until` event (or `count`)."""
        return asyncio.run(self.aevents(job_ids, cursor, until, count, timeout))

    async def aevents(self, job_ids=None, cursor=None, until=TERMINAL, count=None, timeout=120):
        query = []
        if job_ids:
            query.append("jobs=" + ",".join(job_ids))
        if cursor is not None:
            query.append(f"cursor={cursor}")
        url = self.ws_url + ("?" + "&".join(query) if query else "")
        received: list[dict[str, Any]] = []
        open_jobs = set(job_ids or [])
        async with websockets.connect(url) as socket_:
            async with asyncio.timeout(timeout):
                while True:
                    event = json.loads(await socket_.recv())
                    received.append(event)
                    if event["type"] in until:
                        open_jobs.discard(event["job_id"])
                    if count is not None and len(received) >= count:
                        return received
                    if count is None and not open_jobs:
                        return received


@contextmanager
def served_app(
    data_dir: Path, proxy_location: str = "EveryNode", **overrides: Any
) -> Iterator[ServedApp]:
    """Starts Ray (if needed), Serve on a free port, and the app; tears all down after.
    `overrides` are AppArgs fields; `proxy_location` is Serve's (HeadOnly when several
    nodes share this machine and so the port)."""
    started_ray = not ray.is_initialized()
    if started_ray:
        # Ray >= 2.59 turns token auth on for local clusters once ~/.ray/auth_token
        # exists; this cluster is private to the process, so it is off deliberately.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    port = free_port()
    serve.start(proxy_location=proxy_location, http_options={"host": "127.0.0.1", "port": port})
    raw = {"data_dir": str(data_dir), "app_name": "novagenia-test", "gpus_per_replica": 0.0}
    raw.update(overrides)
    args = AppArgs.model_validate(raw).absolute()
    serve.run(build_app(raw), name=args.app_name, route_prefix="/")
    app = ServedApp(args, port)
    try:
        yield app
    finally:
        app.http.close()
        serve.shutdown()
        remove_detached_actors(args)
        if started_ray:
            ray.shutdown()
