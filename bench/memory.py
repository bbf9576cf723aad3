"""Memory plans (`model_memory`, engine/memory.py) on the embedded trained model, side by
side in one run: what each stores (the denoiser's weights and the whole pipeline's), the
time of the same pipeline calls (interleaved, median of repeats) and what it costs in
quality (the same random prompts and seeds, judged by pixel statistics as `bench.quality`
does; mean pixel difference to the plain plan).

    python -m bench.memory [--repeats 5] [--samples 96]

On the CPU only what changes the weights shows: offload needs CUDA (there it trades GPU
memory for transfers), and VAE slicing changes the peak of a decode, not the weights.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch

from bench.common import run_direct
from bench.speed import (
    STEPS,
    accuracy_table,
    draw,
    judge_versions,
    mean_difference,
    print_report,
    random_prompts,
)
from novagenia.config import MemoryPlan
from novagenia.embedded import EMBEDDED_DIR, TINY_SHAPES
from novagenia.engine.device import DevicePlan
from novagenia.engine.fastpath import denoiser_of
from novagenia.engine.memory import tensor_bytes, weight_bytes
from novagenia.engine.pipelines import LoadedPipeline, load_pipeline

PLANS = {"plain": MemoryPlan(), "int8": MemoryPlan(quantize="int8")}
SHAPES = ((1, 64), (4, 64), (4, 128))  # (batch, size)


@dataclass(frozen=True)
class PlanRow:
    plan: str
    denoiser_mib: float
    linear_mib: float
    pipeline_mib: float
    seconds: dict[tuple[int, int], float]


def load(plan: MemoryPlan) -> LoadedPipeline:
    device = DevicePlan.for_replica(0)
    return load_pipeline(TINY_SHAPES, EMBEDDED_DIR / "tiny-shapes", device, memory=plan)


def pipeline_bytes(loaded: LoadedPipeline) -> int:
    return sum(
        weight_bytes(part)
        for part in loaded.pipeline.components.values()
        if hasattr(part, "parameters")
    )


def linear_bytes(module: torch.nn.Module) -> int:
    """What int8 shrinks: the linear layers' weights (convolutions stay as they are)."""
    return sum(tensor_bytes(m.weight) for m in module.modules() if isinstance(m, torch.nn.Linear))


def measure(loaded: dict[str, LoadedPipeline], repeats: int) -> list[PlanRow]:
    seconds: dict[str, dict[tuple[int, int], list[float]]] = {name: {} for name in loaded}
    for batch, size in SHAPES:
        seeds = list(range(batch))
        for pipeline in loaded.values():  # warm-up
            run_direct(pipeline, seeds, STEPS, size)
        for _ in range(repeats):
            for name, pipeline in loaded.items():
                seconds[name].setdefault((batch, size), []).append(
                    run_direct(pipeline, seeds, STEPS, size)
                )
    return [
        PlanRow(
            name,
            weight_bytes(denoiser_of(pipeline.pipeline)) / 2**20,
            linear_bytes(denoiser_of(pipeline.pipeline)) / 2**20,
            pipeline_bytes(pipeline) / 2**20,
            {shape: statistics.median(times) for shape, times in seconds[name].items()},
        )
        for name, pipeline in loaded.items()
    ]


def report(repeats: int, samples: int) -> str:
    loaded = {name: load(plan) for name, plan in PLANS.items()}
    rows = measure(loaded, repeats)
    asked, seeds = random_prompts(samples)
    prompts = [sample.prompt for sample in asked]
    drawn = {name: draw(pipeline, prompts, seeds) for name, pipeline in loaded.items()}
    accuracy = judge_versions(drawn, asked)
    plain = rows[0]
    shapes = " | ".join(f"{batch}×{size}²" for batch, size in SHAPES)
    lines = [
        f"### Memory plans ({TINY_SHAPES}, {STEPS} steps, direct pipeline, CPU, median of "
        f"{repeats} interleaved calls; time relative to plain)",
        "",
        f"| plan | denoiser weights | of which linear | pipeline weights | {shapes} |",
        "|---|---|---|---|" + "---|" * len(SHAPES),
        *(
            f"| {r.plan} | {r.denoiser_mib:.2f} MiB | {r.linear_mib:.2f} MiB | {r.pipeline_mib:.2f} MiB | "
            + " | ".join(
                f"{r.seconds[s] * 1000:.0f} ms (**{r.seconds[s] / plain.seconds[s]:.2f}**)"
                for s in SHAPES
            )
            + " |"
            for r in rows
        ),
        "",
        f"What it costs: {samples} random prompts and seeds drawn with each plan, judged by "
        "pixel statistics; mean pixel difference to plain: "
        + ", ".join(
            f"{name} {mean_difference(drawn['plain'], pictures):.1f} of 255"
            for name, pictures in drawn.items()
            if name != "plain"
        )
        + ".",
        "",
        *accuracy_table("plan", accuracy),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print_report(__doc__, report)
