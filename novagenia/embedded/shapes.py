"""Procedural "coloured shapes" data set for the embedded tiny text-to-image model.

Every picture is 64x64 RGB: one flat-coloured shape (circle, square or upright isosceles
triangle) of random size and position, wholly inside the frame, on a flat background of a
different colour, described by the prompt ``"a {colour} {shape} on a {colour} background"``.

Pictures are drawn on the fly with numpy/PIL from a seed; there are no data files.
:func:`judge` reads a (generated) picture back by pixel statistics, which is how the quality
of the embedded model is measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 64

#: Palette: colour name -> RGB.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 220, 40),
    "purple": (140, 50, 180),
    "orange": (250, 140, 30),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")

#: Every word a prompt of the data set can contain (the tokenizer makes each one a token).
PROMPT_WORDS: tuple[str, ...] = ("a", "on", "background", *COLOUR_NAMES, *SHAPES)

#: Side of the shape's (square) bounding box, in pixels, inclusive range.
MIN_SIZE = 22
MAX_SIZE = 46
#: Minimum distance in pixels between the shape and the picture's edge.
MARGIN = 4

#: Fraction of its bounding box each shape fills.
FILL = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5}


def prompt_for(colour: str, shape: str, background: str) -> str:
    return f"a {colour} {shape} on a {background} background"


@dataclass(frozen=True)
class Sample:
    colour: str
    shape: str
    background: str
    x0: int  # left, inclusive
    y0: int  # top, inclusive
    size: int  # side of the bounding box in pixels

    @property
    def prompt(self) -> str:
        return prompt_for(self.colour, self.shape, self.background)


def random_sample(rng: np.random.Generator) -> Sample:
    """Draw the description (colours, shape, size, position) of one picture."""
    colour = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
    background = colour
    while background == colour:
        background = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    size = int(rng.integers(MIN_SIZE, MAX_SIZE + 1))
    hi = IMAGE_SIZE - MARGIN - size  # last valid top-left coordinate
    x0 = int(rng.integers(MARGIN, hi + 1))
    y0 = int(rng.integers(MARGIN, hi + 1))
    return Sample(colour, shape, background, x0, y0, size)


def draw(sample: Sample) -> Image.Image:
    """Render a sample as a 64x64 RGB PIL image (no anti-aliasing: flat colours only)."""
    img = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), COLOURS[sample.background])
    d = ImageDraw.Draw(img)
    x0, y0, s = sample.x0, sample.y0, sample.size
    x1, y1 = x0 + s - 1, y0 + s - 1  # inclusive corners
    fill = COLOURS[sample.colour]
    if sample.shape == "circle":
        d.ellipse((x0, y0, x1, y1), fill=fill)
    elif sample.shape == "square":
        d.rectangle((x0, y0, x1, y1), fill=fill)
    elif sample.shape == "triangle":
        d.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)
    else:
        raise ValueError(f"unknown shape {sample.shape!r}")
    return img


def make_batch(rng: np.random.Generator, n: int) -> tuple[np.ndarray, list[Sample]]:
    """``n`` random pictures as a uint8 array (n, 64, 64, 3) and their samples."""
    samples = [random_sample(rng) for _ in range(n)]
    arr = np.stack([np.asarray(draw(s), dtype=np.uint8) for s in samples])
    return arr, samples


# --------------------------------------------------------------------------- judging
_PALETTE = np.array([COLOURS[c] for c in COLOUR_NAMES], dtype=np.float32)


def nearest_colour(rgb) -> str:
    rgb = np.asarray(rgb, dtype=np.float32).reshape(3)
    return COLOUR_NAMES[int(np.argmin(((_PALETTE - rgb) ** 2).sum(axis=1)))]


def _shape_from_fill(fill: float) -> str:
    # circle ~ 0.785, square ~ 1, triangle ~ 0.5: decide at the midpoints.
    if fill >= (FILL["circle"] + FILL["square"]) / 2:
        return "square"
    if fill >= (FILL["triangle"] + FILL["circle"]) / 2:
        return "circle"
    return "triangle"


def analyse(image) -> dict:
    """Pixel statistics of a picture: background / shape colour, shape mask, bbox, fill."""
    img = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    img = img.astype(np.float32)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError("expected an RGB image")
    h, w, _ = img.shape
    b = max(1, min(h, w) // 32)  # border width: 2 px at 64x64
    border = np.concatenate(
        [
            img[:b].reshape(-1, 3),
            img[-b:].reshape(-1, 3),
            img[b:-b, :b].reshape(-1, 3),
            img[b:-b, -b:].reshape(-1, 3),
        ]
    )
    bg = np.median(border, axis=0)
    dist_bg = np.sqrt(((img - bg) ** 2).sum(axis=2))
    differs = dist_bg > 40.0  # half of the smallest palette distance (orange/yellow ~ 81)
    if differs.sum() < 4:
        return {"background": bg, "colour": bg, "mask": differs, "bbox": None, "fill": 0.0}
    fg = np.median(img[differs], axis=0)
    # Shape mask: closer to the shape colour than to the background (robust to soft edges).
    dist_fg = np.sqrt(((img - fg) ** 2).sum(axis=2))
    mask = differs & (dist_fg < dist_bg)
    if mask.sum() < 4:
        mask = differs
    # Bounding box from rows/columns with a meaningful number of mask pixels (ignores specks).
    rows = np.nonzero(mask.sum(axis=1) >= 2)[0]
    cols = np.nonzero(mask.sum(axis=0) >= 2)[0]
    if len(rows) == 0 or len(cols) == 0:
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    y0, y1, x0, x1 = rows[0], rows[-1], cols[0], cols[-1]
    area = (y1 - y0 + 1) * (x1 - x0 + 1)
    fill = float(mask[y0 : y1 + 1, x0 : x1 + 1].sum()) / float(area)
    return {"background": bg, "colour": fg, "mask": mask, "bbox": (x0, y0, x1, y1), "fill": fill}


def judge(image) -> tuple[str, str, str]:
    """Read a picture back: ``(background_name, shape_colour_name, shape_name)``.

    background = the border's median colour; shape colour = median of the pixels that differ
    from it; shape from how much of its bounding box it fills (circle ~ pi/4, square ~ 1,
    triangle ~ 1/2). Colours are named by the nearest palette colour.
    """
    a = analyse(image)
    return nearest_colour(a["background"]), nearest_colour(a["colour"]), _shape_from_fill(a["fill"])
