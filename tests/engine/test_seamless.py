"""`seamless` (engine/generate.py) wraps a call's convolutions and always unwraps them."""

from __future__ import annotations

import pytest
import torch

from novagenia.embedded.random_tiny import build_tiny_random_pipeline
from novagenia.engine.generate import seamless


def padding_modes(pipeline) -> set[str]:
    return {
        conv.padding_mode
        for module in (pipeline.unet, pipeline.vae)
        for conv in module.modules()
        if isinstance(conv, torch.nn.Conv2d) and conv.padding != (0, 0)
    }


def test_padded_convolutions_wrap_for_the_call_only():
    pipeline = build_tiny_random_pipeline()
    assert padding_modes(pipeline) == {"zeros"}
    with pytest.raises(RuntimeError), seamless(pipeline.unet, pipeline.vae):
        assert padding_modes(pipeline) == {"circular"}
        raise RuntimeError("a failed call")
    assert padding_modes(pipeline) == {"zeros"}
