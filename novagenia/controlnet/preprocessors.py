"""Preprocessors that need no model: each turns a picture into the control map a
ControlNet was trained on (white lines on black for canny, lineart and scribble; a
blurred copy for tile; the picture itself for `none`). The same functions made the
training data of the embedded ControlNet (training/train_tiny_controlnet.py), so what
the server feeds it at inference matches what it learned from."""

from __future__ import annotations

from typing import Annotated, Literal

import cv2
import numpy as np
from PIL import Image
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class _Preprocessor(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Passthrough(_Preprocessor):
    """The picture is already a control map (an edge map, a depth map…)."""

    name: Literal["none"] = "none"

    def run(self, image: Image.Image) -> Image.Image:
        return image.convert("RGB")


class Canny(_Preprocessor):
    """Canny edges: gradients above `high_threshold` start an edge, above
    `low_threshold` continue one."""

    name: Literal["canny"] = "canny"
    low_threshold: int = Field(100, ge=1, le=255)
    high_threshold: int = Field(200, ge=1, le=255)

    def run(self, image: Image.Image) -> Image.Image:
        low, high = sorted((self.low_threshold, self.high_threshold))
        edges = cv2.Canny(np.asarray(image.convert("RGB")), low, high)
        return Image.fromarray(edges).convert("RGB")


class Lineart(_Preprocessor):
    """Line art without a model (the ControlNet extension's "lineart_standard"): how
    much darker each pixel is than its blurred surroundings, so drawn lines and the dark
    side of edges come out white on black."""

    name: Literal["lineart"] = "lineart"

    def run(self, image: Image.Image) -> Image.Image:
        pixels = np.asarray(image.convert("RGB")).astype(np.float32)
        blurred = cv2.GaussianBlur(pixels, (0, 0), 6.0)
        intensity = np.min(blurred - pixels, axis=2).clip(0, 255)
        strong = intensity[intensity > 8]
        scale = max(16.0, float(np.median(strong))) if strong.size else 16.0
        lines = (intensity / scale * 127).clip(0, 255).astype(np.uint8)
        return Image.fromarray(lines).convert("RGB")


class Scribble(_Preprocessor):
    """Scribble from edges (the extension's "scribble_xdog"): a difference of Gaussians,
    thresholded, drawn as thick strokes, as if sketched by hand."""

    name: Literal["scribble"] = "scribble"
    threshold: int = Field(32, ge=1, le=64, description="Lower keeps fainter edges.")

    def run(self, image: Image.Image) -> Image.Image:
        pixels = np.asarray(image.convert("RGB")).astype(np.float32)
        difference = cv2.GaussianBlur(pixels, (0, 0), 0.5) - cv2.GaussianBlur(pixels, (0, 0), 5.0)
        edges = (difference.min(axis=2) < -self.threshold).astype(np.uint8) * 255
        strokes = cv2.dilate(edges, np.ones((3, 3), np.uint8))
        return Image.fromarray(strokes).convert("RGB")


class Tile(_Preprocessor):
    """The picture shrunk by `downsample` and blown back up: a tile ControlNet redraws
    its detail (upscaling, "tile resample")."""

    name: Literal["tile"] = "tile"
    downsample: float = Field(1.0, ge=1.0, le=8.0)

    def run(self, image: Image.Image) -> Image.Image:
        image = image.convert("RGB")
        if self.downsample == 1.0:
            return image
        small = (
            max(1, round(image.width / self.downsample)),
            max(1, round(image.height / self.downsample)),
        )
        return image.resize(small, Image.LANCZOS).resize(image.size, Image.LANCZOS)


def _by_name(value):
    """A bare name stands for that preprocessor with its defaults."""
    return {"name": value} if isinstance(value, str) else value


Preprocessor = Annotated[
    Passthrough | Canny | Lineart | Scribble | Tile,
    Field(discriminator="name"),
    BeforeValidator(_by_name),
]
