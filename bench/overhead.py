"""What serving adds on top of the pipeline, measured side by side in one run.

The same jobs (tiny model, 20 steps, 128×128, fixed seeds) run directly through the
diffusers pipeline in this process and through the served application (HTTP submit →
queue → ticket → replica → PNG → `succeeded` over the WebSocket), interleaved job by job
so both see the same machine load. Prints the ratio of median latencies, the p95
delay from a step's callback to its WebSocket event, and where a served job's time goes
(median of each phase, from the job's own timestamps).

    python -m bench.overhead [--jobs 20] [--steps 20] [--size 128]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import websockets

from bench.common import job_request, load_direct, percentile, run_direct
from tests.served import served_app

PHASES = (
    "HTTP submit answered",
    "queued → claimed",
    "claimed → step 1 done (prompt encoding, step 1)",
    "steps 2…N",
    "last step → completed (decode, PNG, store)",
    "completed → WebSocket event",
)


async def served_job(
    app, socket, seed: int, steps: int, size: int, delays: list[float]
) -> tuple[float, list[float]]:
    """Submit → `succeeded` on the WebSocket: the latency and the seconds of each of
    PHASES; collects each step's callback→event delay."""
    started, submitted_at = time.perf_counter(), time.time()
    response = await asyncio.to_thread(
        app.http.post, "/api/v1/jobs", json=job_request(seed, steps, size)
    )
    accepted_at = time.time()
    job_id = response.json()["id"]
    step_ts: dict[int, float] = {}
    while True:
        event = json.loads(await socket.recv())
        if event["job_id"] != job_id:
            continue
        if event["type"] == "progress":
            delays.append(time.time() - event["ts"])
            step_ts[event["step"]] = event["ts"]
        if event["type"] in ("succeeded", "failed", "cancelled"):
            assert event["type"] == "succeeded", event
            latency, heard_at = time.perf_counter() - started, time.time()
            break
    job = await asyncio.to_thread(app.job, job_id)
    marks = [
        submitted_at,
        accepted_at,
        job["started_at"],
        step_ts[1],
        step_ts[steps],
        job["finished_at"],
        heard_at,
    ]
    return latency, [later - earlier for earlier, later in zip(marks, marks[1:], strict=False)]


async def measure(app, loaded, jobs: int, steps: int, size: int):
    served, direct, delays, phases = [], [], [], []
    async with websockets.connect(app.ws_url) as socket:
        await served_job(app, socket, 0, steps, size, [])  # warm-up: model load
        run_direct(loaded, [0], steps, size)
        for seed in range(1, jobs + 1):
            direct.append(await asyncio.to_thread(run_direct, loaded, [seed], steps, size))
            latency, job_phases = await served_job(app, socket, seed, steps, size, delays)
            served.append(latency)
            phases.append(job_phases)
    return served, direct, delays, phases


@dataclass(frozen=True)
class Overhead:
    direct_median_s: float
    served_median_s: float
    delay_p50_s: float
    delay_p95_s: float
    phase_medians_s: dict[str, float]

    @property
    def ratio(self) -> float:
        return self.served_median_s / self.direct_median_s


def measure_overhead(jobs: int, steps: int, size: int) -> Overhead:
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch)
        with served_app(data_dir, preview_every_steps=0) as app:
            loaded = load_direct(data_dir)
            served, direct, delays, phases = asyncio.run(measure(app, loaded, jobs, steps, size))
    return Overhead(
        statistics.median(direct),
        statistics.median(served),
        percentile(delays, 0.5),
        percentile(delays, 0.95),
        {name: statistics.median(job[i] for job in phases) for i, name in enumerate(PHASES)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    options = parser.parse_args()
    result = measure_overhead(options.jobs, options.steps, options.size)
    print(
        f"jobs: {options.jobs} × {options.steps} steps at {options.size}², tiny model, CPU, interleaved"
    )
    print(f"direct pipeline   median {result.direct_median_s * 1000:8.1f} ms")
    print(f"served (HTTP→WS)  median {result.served_median_s * 1000:8.1f} ms")
    print(f"ratio served/direct (median latency): {result.ratio:.3f}")
    print(
        f"step callback → WebSocket event delay: p50 {result.delay_p50_s * 1000:.1f} ms, "
        f"p95 {result.delay_p95_s * 1000:.1f} ms"
    )
    print("where a served job's time goes (medians):")
    for name, seconds in result.phase_medians_s.items():
        print(f"  {name:50s} {seconds * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
