"""Shared fixtures. Integration tests run the real application on a real local Ray
(one per test module, a few logical CPUs so it fits the 2-core CI machine)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Ray >= 2.59 turns token auth on for local clusters when ~/.ray/auth_token exists;
# the test clusters are private to this process, so it is off deliberately.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.lora_files import make_test_loras  # noqa: E402 (after the environment it reads)


@pytest.fixture(scope="session")
def lora_files(tmp_path_factory) -> dict[str, Path]:
    """LoRA files for the tiny models, made once per session (tests/lora_files.py)."""
    return make_test_loras(tmp_path_factory.mktemp("lora-files"))
