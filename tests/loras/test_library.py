"""The LoRA library: scanning, header facts, sidecar metadata, search, installing."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import pytest

from novagenia.jobs.schemas import LoraRef
from novagenia.loras import (
    InvalidLora,
    LoraExists,
    LoraLibrary,
    LoraNotFound,
    LoraSetError,
    LoraUpdate,
    read_lora_header,
    resolve_lora_set,
)


@pytest.fixture
def library(tmp_path, lora_files) -> LoraLibrary:
    root = tmp_path / "loras"
    root.mkdir()
    for name in ("style", "shapes", "shapes_bare"):
        shutil.copy(lora_files[name], root / f"{name}.safetensors")
    return LoraLibrary(root)


def test_scan_reads_header_facts(library):
    loras = {lora.name: lora for lora in library.scan()}
    assert sorted(loras) == ["shapes", "shapes_bare", "style"]
    style, shapes, bare = loras["style"], loras["shapes"], loras["shapes_bare"]
    assert (style.format, style.rank, style.alpha) == ("diffusers", 4, 2.0)
    assert style.title == "style" and style.default_weight == 1.0 and style.preview_url is None
    assert style.size_bytes == (library.root / "style.safetensors").stat().st_size
    assert (shapes.format, shapes.rank, shapes.alpha) == ("kohya", 4, 2.0)
    assert shapes.base_model == "sd1"
    assert shapes.base_model_name == "v1-5-pruned-emaonly.safetensors"
    assert shapes.resolution == [512, 512]
    assert shapes.trigger_words == ["red circle", "blue square", "outline", "star"]
    # no ss_* metadata: rank from the shapes, alpha from the scalar `.alpha` tensors
    assert (bare.format, bare.rank, bare.alpha, bare.base_model) == ("kohya", 4, 2.0, None)


def test_sidecar_overrides_and_keeps_unsent_fields(library):
    library.update(
        "shapes", LoraUpdate(title="Shapes", tags=["Geometry", "test"], default_weight=0.7)
    )
    lora = library.update("shapes", LoraUpdate(description="draws shapes"))
    assert (lora.title, lora.description, lora.tags) == (
        "Shapes",
        "draws shapes",
        ["Geometry", "test"],
    )
    assert lora.default_weight == 0.7
    assert lora.trigger_words == ["red circle", "blue square", "outline", "star"]  # from header
    lora = library.update("shapes", LoraUpdate(trigger_words=["shapes style"]))
    assert lora.trigger_words == ["shapes style"]
    sidecar = json.loads((library.root / "shapes.json").read_text())
    assert sidecar["title"] == "Shapes" and sidecar["trigger_words"] == ["shapes style"]


def test_search_by_text_tag_and_base(library):
    library.update("style", LoraUpdate(title="Neon glow", tags=["style"]))
    names = lambda **kw: [lora.name for lora in library.search(**kw)]  # noqa: E731
    assert names(q="neon") == ["style"]
    assert names(q="NEON glow") == ["style"]
    assert names(q="neon circle") == []
    assert names(q="circle") == ["shapes"]  # a trigger word from ss_tag_frequency
    assert names(tag="STYLE") == ["style"]
    assert names(base="sd1") == ["shapes"]
    assert names(base="v1-5") == ["shapes"]
    assert names(base="sdxl") == []
    assert names() == ["shapes", "shapes_bare", "style"]


def test_scan_notices_added_changed_and_removed_files(library, lora_files):
    first = library.get("style")
    shutil.copy(lora_files["detail"], library.root / "style.safetensors")
    os.utime(library.root / "style.safetensors", ns=(1, 1))
    changed = library.get("style")
    assert changed.size_bytes != first.size_bytes
    shutil.copy(lora_files["style"], library.root / "new.safetensors")
    (library.root / "shapes.safetensors").unlink()
    assert [lora.name for lora in library.scan()] == ["new", "shapes_bare", "style"]
    (library.root / "new.png").write_bytes(b"\x89PNG")
    assert library.get("new").preview_url.startswith("/api/v1/loras/new/preview?v=")


def test_scan_skips_what_is_not_a_safetensors_lora(library):
    (library.root / "notes.txt").write_text("hi")
    (library.root / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    (library.root / "bad name!.safetensors").write_bytes(b"")
    assert [lora.name for lora in library.rescan()] == ["shapes", "shapes_bare", "style"]
    with pytest.raises(LoraNotFound):
        library.get("broken")


def test_delete_removes_weights_sidecar_and_preview(library):
    library.update("style", LoraUpdate(title="x"))
    (library.root / "style.png").write_bytes(b"\x89PNG")
    library.delete("style")
    assert sorted(p.name for p in library.root.iterdir()) == [
        "shapes.safetensors",
        "shapes_bare.safetensors",
    ]
    with pytest.raises(LoraNotFound):
        library.delete("style")


def _staged(library: LoraLibrary, data: bytes) -> Path:
    path = library.root / "staged.part"
    path.write_bytes(data)
    return path


def test_install_is_atomic_and_refuses_to_replace_unless_asked(library, lora_files):
    data = lora_files["detail"].read_bytes()
    lora = library.install(_staged(library, data), "fresh")
    assert lora.name == "fresh" and (library.root / "fresh.safetensors").read_bytes() == data
    assert not (library.root / "staged.part").exists()
    with pytest.raises(LoraExists):
        library.install(_staged(library, lora_files["style"].read_bytes()), "fresh")
    assert (library.root / "fresh.safetensors").read_bytes() == data
    library.install(_staged(library, lora_files["style"].read_bytes()), "fresh", overwrite=True)
    assert library.get("fresh").size_bytes == lora_files["style"].stat().st_size


def _header_bytes(header: dict, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04" + b"\0" * 100, "pickle"),
        (b"\x80\x02}q\x00." + b"\0" * 100, "pickle"),
        (struct.pack("<Q", 2**40) + b"{}", "header length"),
        (struct.pack("<Q", 10) + b"{", "header length"),
        (b"\x01\x02", "too short"),
        (struct.pack("<Q", 4) + b"\xff\xfe{}", "not JSON"),
        (_header_bytes([1, 2]), "not a JSON object"),
        (
            _header_bytes(
                {"a.lora_A.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}},
                b"\0" * 8,
            ),
            "truncated",
        ),
        (
            _header_bytes(
                {"a.lora_A.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}},
                b"\0" * 12,
            ),
            "offsets do not match",
        ),
        (
            _header_bytes(
                {"a.lora_A.weight": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 2]}},
                b"\0" * 2,
            ),
            "unknown dtype",
        ),
        (
            _header_bytes(
                {
                    "a.lora_A.weight": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]},
                    "a.lora_B.weight": {"dtype": "F16", "shape": [2], "data_offsets": [2, 6]},
                },
                b"\0" * 6,
            ),
            "overlap",
        ),
        (
            _header_bytes(
                {"model.weight": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4
            ),
            "no LoRA weights",
        ),
        (
            _header_bytes(
                {
                    "__metadata__": {"a": 1},
                    "x.lora_A.weight": {"dtype": "F16", "shape": [], "data_offsets": [0, 2]},
                },
                b"\0\0",
            ),
            "__metadata__",
        ),
    ],
)
def test_install_rejects_invalid_files(library, data, message):
    with pytest.raises(InvalidLora, match=message):
        library.install(_staged(library, data), "bad")
    assert not (library.root / "bad.safetensors").exists()


def test_truncated_real_file_is_rejected(tmp_path, lora_files):
    data = lora_files["style"].read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(InvalidLora, match="truncated"):
        read_lora_header(path)


def test_lora_tags_move_from_prompt_to_the_set(library):
    library.update("shapes", LoraUpdate(default_weight=0.6))
    prompt, loras = resolve_lora_set(
        "a cat <lora:style:0.5>, sitting  <lora:shapes> <lora:shapes_bare:0.3:0.9>", [], library
    )
    assert prompt == "a cat , sitting"
    assert loras == [
        LoraRef(name="style", weight=0.5),
        LoraRef(name="shapes", weight=0.6),
        LoraRef(name="shapes_bare", weight=0.3),
    ]


def test_explicit_entries_win_over_tags(library):
    prompt, loras = resolve_lora_set(
        "a cat <lora:style:0.5>", [LoraRef(name="style", weight=-1.0)], library
    )
    assert prompt == "a cat" and loras == [LoraRef(name="style", weight=-1.0)]


@pytest.mark.parametrize(
    ("prompt", "explicit", "field", "message"),
    [
        ("a cat <lora:missing:1>", [], "loras", "unknown LoRA 'missing'"),
        ("a cat", [LoraRef(name="missing")], "loras", "unknown LoRA 'missing'"),
        ("a cat <lora:../style:1>", [], "prompt", "invalid LoRA tag"),
        ("a cat <lora:style:strong>", [], "prompt", "invalid LoRA tag"),
        ("a cat <lora:style:3>", [], "prompt", "invalid LoRA tag"),
        ("<lora:style:1>", [], "prompt", "empty"),
        ("a cat", [LoraRef(name="style"), LoraRef(name="style", weight=0.2)], "loras", "twice"),
    ],
)
def test_invalid_lora_sets_are_refused(library, prompt, explicit, field, message):
    with pytest.raises(LoraSetError, match=message) as caught:
        resolve_lora_set(prompt, explicit, library)
    assert caught.value.field == field
