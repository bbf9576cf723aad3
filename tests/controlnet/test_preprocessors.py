"""The model-free preprocessors, judged on drawn pictures: where their lines fall."""

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pydantic import TypeAdapter, ValidationError

from novagenia.controlnet.preprocessors import Canny, Lineart, Preprocessor, Scribble, Tile
from novagenia.embedded.shapes import Sample, draw

PREPROCESSOR = TypeAdapter(Preprocessor)
SQUARE = Sample("red", "square", "white", 10, 20, 30)  # x 10..39, y 20..49


def white(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L")) > 127


def test_canny_draws_the_outline_of_a_shape_and_nothing_else():
    edges = white(Canny().run(draw(SQUARE)))
    ys, xs = np.nonzero(edges)
    assert abs(xs.min() - 10) <= 1 and abs(xs.max() - 39) <= 1
    assert abs(ys.min() - 20) <= 1 and abs(ys.max() - 49) <= 1
    assert not edges[25:45, 15:35].any()  # the inside is empty
    assert edges.sum() < 4 * 30 * 3  # a thin line


def test_canny_thresholds_decide_which_edges_count():
    faint = Image.new("RGB", (64, 64), (100, 100, 100))
    ImageDraw.Draw(faint).rectangle((20, 20, 40, 40), fill=(110, 110, 110))
    assert not white(Canny().run(faint)).any()
    assert white(Canny(low_threshold=5, high_threshold=10).run(faint)).any()


def test_lineart_turns_dark_lines_on_white_into_white_lines_on_black():
    sketch = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(sketch).line((8, 32, 56, 32), fill="black", width=2)
    lines = np.asarray(Lineart().run(sketch).convert("L")) > 64  # lines come out mid-grey
    assert lines[31:34, 12:52].any(axis=0).all()
    assert not lines[:24].any() and not lines[40:].any()


def test_scribble_strokes_are_thicker_than_canny_edges():
    strokes = white(Scribble().run(draw(SQUARE)))
    assert strokes.sum() > white(Canny().run(draw(SQUARE))).sum()
    assert not strokes[:10].any()  # nothing far from the shape


def test_tile_blurs_by_its_downsampling_and_keeps_the_size():
    picture = draw(SQUARE)
    assert np.array_equal(np.asarray(Tile().run(picture)), np.asarray(picture))
    blurred = Tile(downsample=4).run(picture)
    assert blurred.size == picture.size
    assert len(np.unique(np.asarray(blurred).reshape(-1, 3), axis=0)) > 2


def test_a_preprocessor_is_named_alone_or_with_its_options():
    assert PREPROCESSOR.validate_python("canny") == Canny()
    assert PREPROCESSOR.validate_python({"name": "canny", "low_threshold": 50}).low_threshold == 50
    with pytest.raises(ValidationError):
        PREPROCESSOR.validate_python({"name": "canny", "threshold": 3})  # scribble's option
    with pytest.raises(ValidationError):
        PREPROCESSOR.validate_python("depth")
