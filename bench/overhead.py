"""What serving adds on top of the pipeline, measured side by side in one run.

The same jobs (tiny model, 20 steps, 128×128, fixed seeds) run directly through the
diffusers pipeline in this process and through the served application (HTTP submit →
queue → ticket → replica → PNG → `succeeded` over the WebSocket). Prints the ratio of
median latencies and the p95 delay from a step's callback to its WebSocket event.

    python -m bench.overhead [--jobs 20] [--steps 20] [--size 128]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import websockets  # noqa: E402

from novagenia.embedded import TINY_RANDOM  # noqa: E402
from novagenia.engine.device import DevicePlan  # noqa: E402
from novagenia.engine.generate import BatchPlan, generate  # noqa: E402
from novagenia.engine.pipelines import load_pipeline  # noqa: E402
from novagenia.jobs.schemas import GenerationRequest, Job, JobStatus  # noqa: E402
from novagenia.models import ModelRegistry  # noqa: E402
from tests.served import served_app  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def direct_latencies(data_dir: Path, jobs: int, steps: int, size: int) -> list[float]:
    registry = ModelRegistry(data_dir / "models")
    loaded = load_pipeline(
        TINY_RANDOM, registry.materialize(TINY_RANDOM), DevicePlan.for_replica(0)
    )
    latencies = []
    for seed in range(jobs + 1):
        request = GenerationRequest(
            prompt="a red circle",
            model=TINY_RANDOM,
            steps=steps,
            width=size,
            height=size,
            seed=seed,
        )
        job = Job(
            id="direct",
            status=JobStatus.running,
            request=request,
            model=TINY_RANDOM,
            priority=0,
            created_at=0,
        )
        started = time.perf_counter()
        generate(
            loaded.pipeline,
            BatchPlan.from_jobs([job]),
            lambda step, latents: None,
            loaded.schedulers,
        )
        if seed:  # the first run warms up
            latencies.append(time.perf_counter() - started)
    return latencies


async def served_latencies(
    app, jobs: int, steps: int, size: int
) -> tuple[list[float], list[float]]:
    latencies, delays = [], []
    async with websockets.connect(app.ws_url) as socket:
        for seed in range(jobs + 1):
            started = time.perf_counter()
            response = await asyncio.to_thread(
                app.http.post,
                "/api/v1/jobs",
                json={
                    "prompt": "a red circle",
                    "model": TINY_RANDOM,
                    "steps": steps,
                    "width": size,
                    "height": size,
                    "seed": seed,
                },
            )
            job_id = response.json()["id"]
            while True:
                event = json.loads(await socket.recv())
                if event["job_id"] != job_id:
                    continue
                if event["type"] == "progress" and seed:
                    delays.append(time.time() - event["ts"])
                if event["type"] in ("succeeded", "failed", "cancelled"):
                    assert event["type"] == "succeeded", event
                    break
            if seed:
                latencies.append(time.perf_counter() - started)
    return latencies, delays


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch)
        with served_app(data_dir, preview_every_steps=0) as app:
            served, delays = asyncio.run(
                served_latencies(app, options.jobs, options.steps, options.size)
            )
            direct = direct_latencies(data_dir, options.jobs, options.steps, options.size)
    direct_median, served_median = statistics.median(direct), statistics.median(served)
    print(f"jobs: {options.jobs} × {options.steps} steps at {options.size}², tiny model, CPU")
    print(f"direct pipeline   median {direct_median * 1000:8.1f} ms")
    print(f"served (HTTP→WS)  median {served_median * 1000:8.1f} ms")
    print(f"ratio served/direct (median latency): {served_median / direct_median:.3f}")
    print(
        f"step callback → WebSocket event delay: p50 {percentile(delays, 0.5) * 1000:.1f} ms, p95 {percentile(delays, 0.95) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
