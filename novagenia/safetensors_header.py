"""The one safetensors header reader of NovaGenIA: LoRAs, installed models, single-file
checkpoints and Hub downloads are all told apart by what their header says.

Only the header is read (8-byte little-endian length + JSON), never tensor data and never
a pickle. A header is accepted only when it is consistent: a sane length, a JSON object,
string metadata, and every tensor's dtype, shape and offsets agreeing with each other and
with the file size.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_HEADER_BYTES = 32 * 1024 * 1024  # kohya tag-frequency tables make headers of a few MB
# Weights in these formats are pickles, which can run code when loaded: never accepted.
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl")

DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}


class InvalidSafetensors(ValueError):
    """Not a consistent safetensors file (the message says what is wrong)."""


class PickledWeights(InvalidSafetensors):
    """A pickle (a zip archive or a pickle stream) where safetensors were expected."""


@dataclass(frozen=True)
class TensorEntry:
    dtype: str
    shape: tuple[int, ...]
    begin: int  # offsets into the data section, which starts after the header
    end: int


@dataclass(frozen=True)
class SafetensorsHeader:
    tensors: dict[str, TensorEntry]
    metadata: dict[str, str]
    data_start: int


def read_header(path: Path) -> SafetensorsHeader:
    """Parses and checks a safetensors header: sane length, JSON object, every tensor's
    dtype, shape and offsets consistent with each other and with the file size."""
    size = path.stat().st_size
    with path.open("rb") as file:
        head = file.read(8)
        if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":
            raise PickledWeights("pickled weights, not safetensors")
        if len(head) < 8:
            raise InvalidSafetensors("not a safetensors file: too short")
        (length,) = struct.unpack("<Q", head)
        if length < 2 or length > MAX_HEADER_BYTES or length > size - 8:
            raise InvalidSafetensors("not a safetensors file: its header length is not plausible")
        raw = file.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidSafetensors("not a safetensors file: the header is not JSON") from None
    if not isinstance(header, dict):
        raise InvalidSafetensors("not a safetensors file: the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise InvalidSafetensors("safetensors __metadata__ must map strings to strings")
    tensors = {name: _tensor_entry(name, spec) for name, spec in header.items()}
    _check_layout(tensors, size - 8 - length)
    return SafetensorsHeader(tensors, metadata, 8 + length)


def _tensor_entry(name: str, spec: Any) -> TensorEntry:
    try:
        dtype, shape, (begin, end) = spec["dtype"], spec["shape"], spec["data_offsets"]
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise TypeError
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise InvalidSafetensors(f"tensor {name!r}: malformed entry in the header") from None
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        raise InvalidSafetensors(f"tensor {name!r}: unknown dtype {dtype!r}")
    numel = 1
    for dim in shape:
        numel *= dim
    if end - begin != numel * DTYPE_BYTES[dtype]:
        raise InvalidSafetensors(f"tensor {name!r}: its offsets do not match its dtype and shape")
    return TensorEntry(dtype, tuple(shape), begin, end)


def _check_layout(tensors: dict[str, TensorEntry], data_bytes: int) -> None:
    """Tensors must tile the data section exactly, as the safetensors format requires."""
    position = 0
    for entry in sorted(tensors.values(), key=lambda e: (e.begin, e.end)):
        if entry.begin != position:
            raise InvalidSafetensors("tensor offsets overlap or leave gaps")
        position = entry.end
    if position != data_bytes:
        raise InvalidSafetensors(
            f"the file holds {data_bytes} bytes of tensor data but its header describes {position}"
            " (truncated or padded file)"
        )
