"""LoRA files shared by the library and adapter tests (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.lora_files import KOHYA_METADATA, write_lora


@pytest.fixture(scope="session")
def lora_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lora-files")
    return {
        "plain": write_lora(root / "plain.safetensors", seed=1),
        "other": write_lora(root / "other.safetensors", seed=2, text_encoder=False),
        "kohya": write_lora(
            root / "kohya.safetensors", seed=3, fmt="kohya", metadata=KOHYA_METADATA
        ),
        "kohya_bare": write_lora(root / "kohya_bare.safetensors", seed=4, fmt="kohya"),
        "wide": write_lora(root / "wide.safetensors", seed=5, cross_attention_dim=64),
    }


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """The tiny pipeline is fastest on one thread; more only spin on a busy 2-core CI box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
