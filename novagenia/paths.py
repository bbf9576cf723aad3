"""Names that become paths: checked once, here, against traversal and odd input."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class UnsafeName(ValueError):
    """A user-supplied name that could escape its directory or confuse a filesystem."""


def check_segment(name: str) -> str:
    """One path segment: ASCII letters, digits, `._-`, not starting with a dot, no `..`."""
    if (
        not isinstance(name, str)
        or unicodedata.normalize("NFKC", name) != name
        or not _SEGMENT.match(name)
        or ".." in name
    ):
        raise UnsafeName(f"invalid name {name!r}")
    return name


def safe_join(root: Path, *segments: str) -> Path:
    """`root/segments…`, each segment checked, and the result proven to stay in `root`."""
    path = root.joinpath(*(check_segment(s) for s in segments))
    resolved_root = root.resolve()
    if not path.resolve().is_relative_to(resolved_root):
        raise UnsafeName(f"path escapes {root}")
    return path
