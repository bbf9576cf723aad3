"""How well the embedded model draws what it is asked, judged by pixel statistics.

Random prompts of the data set's vocabulary ("a {colour} {shape} on a {colour}
background") and random seeds go through the served application (20 steps); each
picture is read back by `novagenia.embedded.shapes.judge` (background = the border's
median colour, shape colour = median of the pixels that differ from it, shape from how
much of its bounding box it fills). Prints the three accuracies.

    python -m bench.quality [--samples 96] [--steps 20] [--sampler euler_a] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from novagenia.embedded import TINY_SHAPES
from novagenia.embedded.shapes import judge, random_sample
from tests.served import served_app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=96)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sampler", default="euler_a")
    parser.add_argument("--guidance", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    rng = np.random.default_rng(options.seed)
    asked = [random_sample(rng) for _ in range(options.samples)]
    seeds = rng.integers(0, 2**32 - 1, size=options.samples).tolist()
    with (
        tempfile.TemporaryDirectory() as scratch,
        served_app(Path(scratch), preview_every_steps=0) as app,
    ):

        def draw(i: int):
            job = app.submit(
                prompt=asked[i].prompt,
                model=TINY_SHAPES,
                steps=options.steps,
                sampler=options.sampler,
                guidance_scale=options.guidance,
                seed=seeds[i],
            )
            return app.image(app.wait(job["id"], timeout=600)["images"][0]["url"]).convert("RGB")

        with ThreadPoolExecutor(8) as pool:
            pictures = list(pool.map(draw, range(options.samples)))
    got = [judge(picture) for picture in pictures]
    background = np.mean([g[0] == a.background for g, a in zip(got, asked, strict=True)])
    colour = np.mean([g[1] == a.colour for g, a in zip(got, asked, strict=True)])
    shape = np.mean([g[2] == a.shape for g, a in zip(got, asked, strict=True)])
    print(
        f"{TINY_SHAPES}: {options.samples} random prompts and seeds, {options.steps} steps, {options.sampler}, CFG {options.guidance:g}"
    )
    print(f"background colour right: {background:.1%}")
    print(f"shape colour right:      {colour:.1%}")
    print(f"shape right:             {shape:.1%}")


if __name__ == "__main__":
    main()
