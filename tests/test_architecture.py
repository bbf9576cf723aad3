"""docs/architecture.md names modules, classes and functions; every one must exist, and
no code comment points at a design document outside the repository."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "architecture.md"
NAME = re.compile(r"`(novagenia(?:\.[A-Za-z_][A-Za-z0-9_]*)+)`")


def resolve(dotted: str) -> object:
    """The longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return target
    raise ModuleNotFoundError(dotted)


NAMES = sorted(set(NAME.findall(DOC.read_text())))


def test_the_document_names_code():
    assert len(NAMES) > 40


@pytest.mark.parametrize("dotted", NAMES)
def test_every_name_in_the_architecture_exists(dotted):
    resolve(dotted)


def test_code_points_at_the_document_in_the_repository():
    stale = [
        str(path.relative_to(REPO))
        for path in (REPO / "novagenia").rglob("*.py")
        if "DESIGN.md" in path.read_text()
    ]
    assert stale == []
