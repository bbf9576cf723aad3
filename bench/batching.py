"""Images/s for batch sizes 1, 2, 4, 8: through the served app (claim-time batching,
`max_batch_jobs` = N) and through the direct pipeline (one call for N images), one run.
The same number of images at every batch size, so the fixed costs of a run (the first
claim, the last poll) weigh the same on each.

    python -m bench.batching [--steps 20] [--size 128] [--images 32]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.common import job_request, load_direct, run_direct, served_seconds_per_image
from tests.served import served_app

BATCH_SIZES = (1, 2, 4, 8)


def served_images_per_s(
    data_dir: Path, images: int, steps: int, size: int, **settings: object
) -> float:
    """A burst of `images` jobs through an app with `settings` (AppArgs fields)."""
    with served_app(data_dir, **settings) as app:
        request = {
            key: value for key, value in job_request(0, steps, size).items() if key != "seed"
        }
        return 1 / served_seconds_per_image(app, request, images)


def direct_images_per_s(data_dir: Path, batch: int, images: int, steps: int, size: int) -> float:
    loaded = load_direct(data_dir)
    run_direct(loaded, list(range(batch)), steps, size)  # warm-up
    calls = max(1, images // batch)
    seconds = sum(run_direct(loaded, list(range(batch)), steps, size) for _ in range(calls))
    return batch * calls / seconds


def measure_batching(images: int, steps: int, size: int) -> list[tuple[int, float, float]]:
    """(batch, served images/s, direct images/s) for each of BATCH_SIZES."""
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for batch in BATCH_SIZES:
            served = served_images_per_s(
                Path(scratch),
                images,
                steps,
                size,
                max_batch_jobs=batch,
                batch_wait_s=0.05,
                preview_every_steps=0,
            )
            direct = direct_images_per_s(Path(scratch), batch, images, steps, size)
            rows.append((batch, served, direct))
    return rows


def measure_default_burst(images: int, steps: int, size: int) -> tuple[float, float]:
    """(served images/s with the default settings, previews included, direct images/s in
    batches of 4): the comparison issue 15 states, a user's burst against a plain loop."""
    with tempfile.TemporaryDirectory() as scratch:
        served = served_images_per_s(Path(scratch), images, steps, size)
        return served, direct_images_per_s(Path(scratch), 4, images, steps, size)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--images", type=int, default=32, help="images per batch size")
    options = parser.parse_args()
    rows = measure_batching(options.images, options.steps, options.size)
    print(
        f"tiny model, {options.steps} steps at {options.size}², CPU, {options.images} images per size"
    )
    print("batch  served img/s  direct img/s  served/direct  served vs batch 1")
    for batch, served, direct in rows:
        print(
            f"{batch:5d}  {served:12.2f}  {direct:12.2f}  {served / direct:13.2f}  {served / rows[0][1]:17.2f}"
        )


if __name__ == "__main__":
    main()
