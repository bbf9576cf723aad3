"""Fast tests of the embedded model's procedural data set, its judge and its tokenizer."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from novagenia.embedded import shapes
from novagenia.embedded.shapes import COLOURS, SHAPES, Sample, draw, judge


def test_vocab_constants():
    assert len(COLOURS) == 8 and SHAPES == ("circle", "square", "triangle")
    assert COLOURS["red"] == (220, 40, 40) and COLOURS["black"] == (20, 20, 20)
    assert tuple(COLOURS) == shapes.COLOUR_NAMES
    assert shapes.prompt_for("red", "square", "white") == "a red square on a white background"


def test_drawing_respects_the_rules():
    rng = np.random.default_rng(123)
    arr, samples = shapes.make_batch(rng, 300)
    assert arr.shape == (300, 64, 64, 3) and arr.dtype == np.uint8
    seen = set()
    for img, s in zip(arr, samples, strict=True):
        assert s.colour != s.background
        assert s.colour in COLOURS and s.background in COLOURS and s.shape in SHAPES
        assert shapes.MIN_SIZE <= s.size <= shapes.MAX_SIZE
        bg = np.array(COLOURS[s.background], dtype=np.uint8)
        fg = np.array(COLOURS[s.colour], dtype=np.uint8)
        is_bg = (img == bg).all(axis=2)
        is_fg = (img == fg).all(axis=2)
        assert (is_bg | is_fg).all(), "only the two flat colours"
        ys, xs = np.nonzero(is_fg)
        assert len(ys) > 0
        # wholly inside the frame, with the margin
        m = shapes.MARGIN
        assert ys.min() >= m and xs.min() >= m
        assert ys.max() <= 63 - m and xs.max() <= 63 - m
        # the border is pure background
        assert is_bg[0].all() and is_bg[-1].all() and is_bg[:, 0].all() and is_bg[:, -1].all()
        seen.add((s.shape, s.size, s.x0, s.y0))
    assert len(seen) > 250, "sizes and positions vary"


def test_drawing_is_deterministic_per_seed():
    a1, s1 = shapes.make_batch(np.random.default_rng(7), 32)
    a2, s2 = shapes.make_batch(np.random.default_rng(7), 32)
    a3, _ = shapes.make_batch(np.random.default_rng(8), 32)
    assert s1 == s2 and np.array_equal(a1, a2)
    assert not np.array_equal(a1, a3)


@pytest.mark.parametrize("shape", SHAPES)
def test_judge_recognises_every_combination(shape):
    lo, hi, m = shapes.MIN_SIZE, shapes.MAX_SIZE, shapes.MARGIN
    rng = np.random.default_rng(0)
    for colour, background in itertools.permutations(shapes.COLOUR_NAMES, 2):
        for size in (lo, (lo + hi) // 2, hi):
            x0, y0 = (int(v) for v in rng.integers(m, 64 - m - size + 1, size=2))
            img = draw(Sample(colour, shape, background, x0, y0, size))
            assert judge(img) == (background, colour, shape), (colour, shape, background, size)


def test_judge_nearest_palette_colour_and_soft_images():
    assert shapes.nearest_colour((230, 50, 35)) == "red"
    assert shapes.nearest_colour((255, 255, 255)) == "white"
    # a blurred, noisy picture is still read correctly
    from PIL import ImageFilter

    img = draw(Sample("blue", "circle", "yellow", 12, 10, 34)).filter(ImageFilter.GaussianBlur(1))
    noisy = np.asarray(img).astype(float) + np.random.default_rng(0).normal(0, 8, (64, 64, 3))
    assert judge(np.clip(noisy, 0, 255).astype(np.uint8)) == ("yellow", "blue", "circle")


@pytest.fixture(scope="module")
def tokenizer():
    from training.train_tiny_shapes import build_tokenizer

    return build_tokenizer()


def test_bytes_to_unicode():
    from novagenia.embedded.tokenizer import bytes_to_unicode

    table = bytes_to_unicode()
    assert len(table) == 256 and len(set(table.values())) == 256
    assert table[ord("a")] == "a" and table[ord(" ")] == "\u0120"


def test_tokenizer_words_are_single_tokens(tokenizer):
    for word in shapes.PROMPT_WORDS:
        ids = tokenizer(word, add_special_tokens=False).input_ids
        assert len(ids) == 1, word
        assert tokenizer.convert_ids_to_tokens(ids) == [word + "</w>"]
    ids = tokenizer("a red square on a white background").input_ids
    assert len(ids) == 9  # <bos> + 7 words + <eos>
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    # upper case and unknown words still tokenize (into characters)
    assert tokenizer("A RED Square").input_ids == tokenizer("a red square").input_ids
    assert len(tokenizer("zebra", add_special_tokens=False).input_ids) > 1


def test_tokenizer_pads_and_truncates_to_77(tokenizer):
    assert tokenizer.model_max_length == 77
    enc = tokenizer(
        ["", "a blue circle " * 40],
        padding="max_length",
        truncation=True,
        max_length=tokenizer.model_max_length,
    )
    assert [len(x) for x in enc.input_ids] == [77, 77]


MODEL_DIR = Path(shapes.__file__).resolve().parent / "tiny-shapes"


def test_committed_pipeline_draws_what_it_is_asked():
    """One prompt per shape, two seeds each, in one batch: background, colour and shape."""
    import torch
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(MODEL_DIR, dtype=torch.float32, use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    cases = [
        ("red", "square", "white"),
        ("yellow", "circle", "blue"),
        ("black", "triangle", "orange"),
    ]
    cases = [(case, seed) for case in cases for seed in (0, 1)]
    images = pipe(
        [shapes.prompt_for(*case) for case, _ in cases],
        num_inference_steps=20,
        guidance_scale=6.0,
        generator=[torch.Generator().manual_seed(seed) for _, seed in cases],
    ).images
    assert {image.size for image in images} == {(64, 64)}
    for ((colour, shape, background), _), image in zip(cases, images, strict=True):
        assert judge(image) == (background, colour, shape)
