"""How well the embedded model draws what it is asked, judged by pixel statistics.

Random prompts of the data set's vocabulary ("a {colour} {shape} on a {colour}
background") and random seeds go through the served application (20 steps); each
picture is read back by `novagenia.embedded.shapes.judge` (background = the border's
median colour, shape colour = median of the pixels that differ from it, shape from how
much of its bounding box it fills). Prints the three accuracies.

    python -m bench.quality [--samples 96] [--steps 20] [--sampler euler_a] [--speed quality] [--seed 0] [--grid docs/tiny-shapes.png]
"""

from __future__ import annotations

import argparse
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from novagenia.embedded import TINY_SHAPES
from novagenia.embedded.shapes import judge, random_sample
from tests.served import served_app

GRID_COLUMNS = 6
TILE = 128
CAPTION = 30


def save_grid(
    path: Path, pictures: list[Image.Image], prompts: list[str], verdicts: list[bool]
) -> None:
    """The first pictures with their prompts (a red caption: judged wrong somewhere)."""
    count = min(len(pictures), GRID_COLUMNS * 4)
    rows = -(-count // GRID_COLUMNS)
    grid = Image.new("RGB", (GRID_COLUMNS * TILE, rows * (TILE + CAPTION)), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for i in range(count):
        x, y = (i % GRID_COLUMNS) * TILE, (i // GRID_COLUMNS) * (TILE + CAPTION)
        grid.paste(pictures[i].resize((TILE, TILE), Image.NEAREST), (x, y))
        words = prompts[i].removeprefix("a ").replace(" background", "").split(" on a ")
        colour = (0, 0, 0) if verdicts[i] else (200, 0, 0)
        draw.text((x + 4, y + TILE + 2), words[0], fill=colour)
        draw.text((x + 4, y + TILE + 15), "on " + words[-1], fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=96)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sampler", default="euler_a")
    parser.add_argument("--guidance", type=float, default=6.0)
    parser.add_argument("--speed", choices=("quality", "fast"), default="quality")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid", type=Path, help="also save a grid of pictures with their prompts")
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
                speed=options.speed,
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
        f"{TINY_SHAPES}: {options.samples} random prompts and seeds, {options.steps} steps, {options.sampler}, CFG {options.guidance:g}, speed {options.speed}"
    )
    print(f"background colour right: {background:.1%}")
    print(f"shape colour right:      {colour:.1%}")
    print(f"shape right:             {shape:.1%}")
    if options.grid:
        right = [
            (g[0], g[1], g[2]) == (a.background, a.colour, a.shape)
            for g, a in zip(got, asked, strict=True)
        ]
        save_grid(options.grid, pictures, [a.prompt for a in asked], right)
        print(f"grid: {options.grid}")


if __name__ == "__main__":
    main()
