"""`speed: fast` against `quality` on the embedded default model, side by side in one run:
the time of the same pipeline calls (interleaved, median of repeats) and what the
caching costs in quality: the same random prompts and seeds drawn both ways, each
picture judged by pixel statistics (as `bench.quality` does), and the mean pixel
difference between the two versions of each picture.

    python -m bench.speed [--repeats 5] [--samples 96]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import load_direct, run_direct
from novagenia.embedded import TINY_SHAPES
from novagenia.embedded.shapes import judge, random_sample
from novagenia.engine.generate import BatchPlan, generate
from novagenia.engine.pipelines import LoadedPipeline
from novagenia.jobs.schemas import GenerationRequest, Job, JobStatus

STEPS = 20
SHAPES = ((1, 64), (4, 64), (4, 128))  # (batch, size)
QUALITY_BATCH = 8


@dataclass(frozen=True)
class SpeedRow:
    batch: int
    size: int
    quality_s: float
    fast_s: float


@dataclass(frozen=True)
class QualityRow:
    version: str
    background: float
    colour: float
    shape: float


def time_speeds(loaded: LoadedPipeline, repeats: int) -> list[SpeedRow]:
    rows = []
    for batch, size in SHAPES:
        seeds = list(range(batch))
        timings: dict[str, list[float]] = {"quality": [], "fast": []}
        for speed in timings:  # warm-up
            run_direct(loaded, seeds, STEPS, size, speed)
        for _ in range(repeats):
            for speed, seconds in timings.items():
                seconds.append(run_direct(loaded, seeds, STEPS, size, speed))
        rows.append(
            SpeedRow(
                batch,
                size,
                statistics.median(timings["quality"]),
                statistics.median(timings["fast"]),
            )
        )
    return rows


def draw(
    loaded: LoadedPipeline, prompts: list[str], seeds: list[int], speed: str = "quality"
) -> list:
    pictures = []
    for start in range(0, len(prompts), QUALITY_BATCH):
        jobs = [
            Job(
                id=f"q{start + i}",
                status=JobStatus.running,
                request=GenerationRequest(
                    prompt=prompt,
                    model=TINY_SHAPES,
                    steps=STEPS,
                    guidance_scale=6.0,
                    width=64,
                    height=64,
                    seed=seed,
                    speed=speed,
                ),  # fmt: skip
                model=TINY_SHAPES,
                priority=0,
                created_at=0,
            )
            for i, (prompt, seed) in enumerate(
                zip(
                    prompts[start : start + QUALITY_BATCH],
                    seeds[start : start + QUALITY_BATCH],
                    strict=True,
                )
            )
        ]
        plan = BatchPlan.from_jobs(jobs)
        pictures += generate(
            loaded.pipeline, plan, lambda step, latents: None, loaded.scheduler_config
        )
    return [picture.convert("RGB") for picture in pictures]


def judge_speeds(loaded: LoadedPipeline, samples: int) -> tuple[list[QualityRow], float]:
    """Accuracy per speed on the same prompts and seeds, and the mean absolute pixel
    difference (0–255) between each picture's two versions."""
    asked, seeds = random_prompts(samples)
    prompts = [sample.prompt for sample in asked]
    drawn = {speed: draw(loaded, prompts, seeds, speed) for speed in ("quality", "fast")}
    return judge_versions(drawn, asked), mean_difference(drawn["quality"], drawn["fast"])


def random_prompts(samples: int) -> tuple[list, list[int]]:
    """The same random shapes prompts and seeds in every run (`shapes.random_sample`)."""
    rng = np.random.default_rng(0)
    asked = [random_sample(rng) for _ in range(samples)]
    return asked, rng.integers(0, 2**32 - 1, size=samples).tolist()


def judge_versions(drawn: dict[str, list], asked: list) -> list[QualityRow]:
    """Per version (a speed, a memory plan): how often each picture part was right."""
    rows = []
    for label, pictures in drawn.items():
        got = [judge(picture) for picture in pictures]
        rows.append(
            QualityRow(
                label,
                float(np.mean([g[0] == a.background for g, a in zip(got, asked, strict=True)])),
                float(np.mean([g[1] == a.colour for g, a in zip(got, asked, strict=True)])),
                float(np.mean([g[2] == a.shape for g, a in zip(got, asked, strict=True)])),
            )
        )
    return rows


def mean_difference(first: list, second: list) -> float:
    """Mean absolute pixel difference (0–255) between two versions of each picture."""
    return float(
        np.mean(
            [
                np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).mean()
                for a, b in zip(first, second, strict=True)
            ]
        )
    )


def report(repeats: int, samples: int) -> str:
    with tempfile.TemporaryDirectory() as scratch:
        loaded = load_direct(Path(scratch), TINY_SHAPES)
        speeds = time_speeds(loaded, repeats)
        accuracy, difference = judge_speeds(loaded, samples)
    lines = [
        f"### `speed: fast` vs `quality` ({TINY_SHAPES}, {STEPS} steps, direct pipeline, "
        f"median of {repeats} interleaved calls)",
        "",
        "| batch | size | quality | fast | fast/quality time |",
        "|---|---|---|---|---|",
        *(
            f"| {r.batch} | {r.size}² | {r.quality_s * 1000:.0f} ms | {r.fast_s * 1000:.0f} ms"
            f" | **{r.fast_s / r.quality_s:.2f}** |"
            for r in speeds
        ),
        "",
        f"What it costs: {samples} random prompts and seeds drawn both ways, judged by pixel "
        f"statistics; mean pixel difference between the two versions {difference:.1f} of 255.",
        "",
        *accuracy_table("speed", accuracy),
    ]
    return "\n".join(lines) + "\n"


def accuracy_table(column: str, rows: list[QualityRow]) -> list[str]:
    return [
        f"| {column} | background right | shape colour right | shape right |",
        "|---|---|---|---|",
        *(f"| {r.version} | {r.background:.1%} | {r.colour:.1%} | {r.shape:.1%} |" for r in rows),
    ]


def print_report(doc: str, report: Callable[[int, int], str]) -> None:
    """The command line of a bench that times repeated calls and judges sampled prompts."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=96)
    options = parser.parse_args()
    print(report(options.repeats, options.samples))


if __name__ == "__main__":
    print_report(__doc__, report)
