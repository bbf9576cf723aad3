"""What the benchmarks share: the direct (unserved) pipeline path and percentiles."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from novagenia.embedded import TINY_RANDOM
from novagenia.engine.device import DevicePlan
from novagenia.engine.generate import BatchPlan, generate
from novagenia.engine.pipelines import LoadedPipeline, load_pipeline
from novagenia.jobs.schemas import GenerationRequest, Job, JobStatus
from novagenia.models import ModelRegistry

PROMPT = "a red circle on a blue background"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load_direct(data_dir: Path, model: str = TINY_RANDOM) -> LoadedPipeline:
    """The pipeline exactly as a CPU replica loads it (same threads, same dtype)."""
    registry = ModelRegistry(data_dir / "models")
    return load_pipeline(model, registry.materialize(model), DevicePlan.for_replica(0))


def job_request(
    seed: int, steps: int, size: int, model: str = TINY_RANDOM, speed: str = "quality"
) -> dict:
    return {
        "prompt": PROMPT,
        "model": model,
        "steps": steps,
        "width": size,
        "height": size,
        "seed": seed,
        "speed": speed,
    }


def run_direct(
    loaded: LoadedPipeline, seeds: list[int], steps: int, size: int, speed: str = "quality"
) -> float:
    """One pipeline call for `len(seeds)` images; returns its wall time in seconds."""
    jobs = [
        Job(
            id=f"direct{seed}",
            status=JobStatus.running,
            request=GenerationRequest(**job_request(seed, steps, size, loaded.model_id, speed)),
            model=loaded.model_id,
            priority=0,
            created_at=0,
        )
        for seed in seeds
    ]
    started = time.perf_counter()
    generate(
        loaded.pipeline,
        BatchPlan.from_jobs(jobs),
        lambda step, latents: None,
        loaded.scheduler_config,
    )
    return time.perf_counter() - started


def served_seconds_per_image(app, request: dict, count: int, timeout: float = 600) -> float:
    """Warms the app up with one job, then submits `count` jobs at once (so replicas can
    batch them) and returns wall seconds per image until the last one succeeded."""
    app.wait(app.submit(**request, seed=0)["id"], timeout=timeout)  # load + warm-up
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        jobs = list(pool.map(lambda seed: app.submit(**request, seed=seed), range(1, count + 1)))
    for job in jobs:
        assert app.wait(job["id"], timeout=timeout)["status"] == "succeeded"
    return (time.perf_counter() - started) / count
