"""LoRA files shared by the library and adapter tests (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.lora_files import make_test_loras


@pytest.fixture(scope="session")
def lora_files(tmp_path_factory) -> dict[str, Path]:
    return make_test_loras(tmp_path_factory.mktemp("lora-files"))


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """The tiny pipeline is fastest on one thread; more only spin on a busy 2-core CI box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
