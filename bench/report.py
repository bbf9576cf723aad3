"""The CPU figures the README quotes, in one run, written to a dated table in
`bench/results/` so each one can be checked in the repository:

- one job at a time, served vs direct (median latency ratio; 128², 20 steps),
- the step callback → WebSocket event delay (p50, p95),
- a burst of jobs with the default settings against the direct pipeline in batches of 4,
- a burst of jobs, served vs direct images/s at batch 1, 2, 4, 8 (64² and 128², 20 steps).

    python -m bench.report [--out bench/results/<today>-cpu.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
from pathlib import Path

import torch

from bench.batching import measure_batching, measure_default_burst
from bench.overhead import measure_overhead

STEPS = 20
OVERHEAD_JOBS = 16
BURST_IMAGES = 32
BURST_SIZES = (64, 128)


def report() -> str:
    overhead = measure_overhead(OVERHEAD_JOBS, STEPS, 128)
    lines = [
        f"# CPU benchmarks, {datetime.date.today().isoformat()}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        "one torch thread for the direct pipeline as for a CPU replica; tiny model "
        "(`novagenia/tiny-random`), "
        f"{STEPS} steps, default app settings but previews off. Produced by "
        "`python -m bench.report`; every figure below is from that one run.",
        "",
        "## One job at a time (128², interleaved direct / served)",
        "",
        "| direct median | served median | served/direct | step → WebSocket p50 | p95 |",
        "|---|---|---|---|---|",
        f"| {overhead.direct_median_s * 1000:.1f} ms | {overhead.served_median_s * 1000:.1f} ms"
        f" | **{overhead.ratio:.2f}** | {overhead.delay_p50_s * 1000:.1f} ms"
        f" | {overhead.delay_p95_s * 1000:.1f} ms |",
        "",
        "Where a served job's time goes (medians of each phase, from the job's timestamps):",
        "",
        "| phase | ms |",
        "|---|---|",
        *(f"| {name} | {s * 1000:.1f} |" for name, s in overhead.phase_medians_s.items()),
    ]
    served, direct = measure_default_burst(BURST_IMAGES, STEPS, 64)
    lines += [
        "",
        f"## A burst of {BURST_IMAGES} images at 64², default settings",
        "",
        "The app as `serve_config.yaml` sets it up (batches of up to 8 images as jobs come, "
        "previews every 5 steps) against the direct pipeline in batches of 4.",
        "",
        "| served img/s | direct img/s (batches of 4) | served/direct |",
        "|---|---|---|",
        f"| {served:.2f} | {direct:.2f} | **{served / direct:.2f}** |",
    ]
    for size in BURST_SIZES:
        rows = measure_batching(BURST_IMAGES, STEPS, size)
        lines += [
            "",
            f"## A burst of {BURST_IMAGES} images at {size}² (`max_batch_jobs` = batch)",
            "",
            "| batch | served img/s | direct img/s | served/direct |",
            "|---|---|---|---|",
            *(
                f"| {batch} | {served:.2f} | {direct:.2f} | **{served / direct:.2f}** |"
                for batch, served, direct in rows
            ),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default = Path("bench/results") / f"{datetime.date.today().isoformat()}-cpu.md"
    parser.add_argument("--out", type=Path, default=default)
    options = parser.parse_args()
    text = report()
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(text)
    print(text)
    print(f"written to {options.out}")


if __name__ == "__main__":
    main()
