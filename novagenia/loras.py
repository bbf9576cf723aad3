"""The LoRA library: `.safetensors` files in one directory, described by what their
header says (kohya `ss_*` training metadata, key layout, ranks) merged with a sidecar
`<name>.json` the user edits, and a `<name>.png` preview next to them.

Only headers are read (8-byte length + JSON), never tensors, and never a pickle: a file
is listed, and an upload accepted, only when its header is a consistent safetensors
header that names LoRA weights. Scans are keyed by (mtime, size), so listing the library
per request costs one directory read and a few stats.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from novagenia.jobs.schemas import LORA_TAG, LoraRef
from novagenia.paths import UnsafeName, check_segment

logger = logging.getLogger("novagenia.loras")

SUFFIX = ".safetensors"
MAX_HEADER_BYTES = 32 * 1024 * 1024  # kohya tag-frequency tables make headers of a few MB
STAGING_DIR = ".staging"  # uploads land here first: same filesystem, so the rename is atomic
SUGGESTED_TRIGGER_WORDS = 8
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl")
PICKLE_REFUSED = (
    "pickle checkpoints (.ckpt, .pt, .pth, .bin) can run code when loaded and are not "
    "accepted; convert the LoRA to .safetensors"
)

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
KOHYA_PREFIXES = ("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_", "lora_transformer_")
KOHYA_PARTS = (".lora_down.", ".lora_up.")
DIFFUSERS_PARTS = (".lora_A.", ".lora_B.", ".lora.down.", ".lora.up.", ".lora_linear_layer.")
DOWN_PARTS = (".lora_down.weight", ".lora_A.weight", ".lora.down.weight")

LoraFormat = Literal["diffusers", "kohya"]


class InvalidLora(ValueError):
    """Not a safetensors LoRA (the message says what is wrong, for the uploader)."""


class LoraNotFound(LookupError):
    """No LoRA of this name in the library."""


class LoraExists(FileExistsError):
    """An upload would replace a LoRA without `overwrite`."""


class LoraSetError(ValueError):
    """A job's LoRA set is not valid; `field` is the request field to blame."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class LoraCard(BaseModel):
    """What the user says about a LoRA, kept in the sidecar `<name>.json`. A field left
    unset falls back to what the file's header suggests."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, max_length=200, description="Display name.")
    description: str | None = Field(None, max_length=10_000)
    tags: list[str] | None = Field(
        None, max_length=64, description="Free-form tags to search and filter by."
    )
    trigger_words: list[str] | None = Field(
        None,
        max_length=64,
        description="Words to put in the prompt (the header's top tags when unset).",
    )
    default_weight: float | None = Field(
        None,
        ge=-2.0,
        le=2.0,
        description="Weight used when a job or a `<lora:name>` tag gives none.",
    )


class LoraUpdate(LoraCard):
    """Body of `PUT /loras/{name}`: only the fields sent are changed."""


class Lora(BaseModel):
    """One library entry as the API returns it."""

    name: str
    title: str
    description: str
    tags: list[str]
    trigger_words: list[str]
    default_weight: float
    base_model: str | None = Field(
        description="Base-model family the LoRA was trained for: sd1, sd2, sdxl, sd3, flux…"
    )
    base_model_name: str | None = Field(description="The checkpoint it was trained on, if known.")
    resolution: list[int] | None = Field(description="Training resolution [width, height].")
    preview_url: str | None
    size_bytes: int
    rank: int | None
    alpha: float | None
    format: LoraFormat
    fits: list[str] = Field(
        default_factory=list,
        description="Installed models whose layers it fits (told from the files' headers).",
    )


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


@dataclass(frozen=True)
class HeaderFacts:
    """What a LoRA file says about itself (from its header only)."""

    format: LoraFormat
    rank: int | None
    alpha: float | None
    base_model: str | None
    base_model_name: str | None
    resolution: list[int] | None
    trigger_words: list[str]
    description: str | None


def read_header(path: Path) -> SafetensorsHeader:
    """Parses and checks a safetensors header: sane length, JSON object, every tensor's
    dtype, shape and offsets consistent with each other and with the file size."""
    size = path.stat().st_size
    with path.open("rb") as file:
        head = file.read(8)
        if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":
            raise InvalidLora(PICKLE_REFUSED)
        if len(head) < 8:
            raise InvalidLora("not a safetensors file: too short")
        (length,) = struct.unpack("<Q", head)
        if length < 2 or length > MAX_HEADER_BYTES or length > size - 8:
            raise InvalidLora("not a safetensors file: its header length is not plausible")
        raw = file.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidLora("not a safetensors file: the header is not JSON") from None
    if not isinstance(header, dict):
        raise InvalidLora("not a safetensors file: the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise InvalidLora("safetensors __metadata__ must map strings to strings")
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
        raise InvalidLora(f"tensor {name!r}: malformed entry in the header") from None
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        raise InvalidLora(f"tensor {name!r}: unknown dtype {dtype!r}")
    numel = 1
    for dim in shape:
        numel *= dim
    if end - begin != numel * DTYPE_BYTES[dtype]:
        raise InvalidLora(f"tensor {name!r}: its offsets do not match its dtype and shape")
    return TensorEntry(dtype, tuple(shape), begin, end)


def _check_layout(tensors: dict[str, TensorEntry], data_bytes: int) -> None:
    """Tensors must tile the data section exactly, as the safetensors format requires."""
    position = 0
    for entry in sorted(tensors.values(), key=lambda e: (e.begin, e.end)):
        if entry.begin != position:
            raise InvalidLora("tensor offsets overlap or leave gaps")
        position = entry.end
    if position != data_bytes:
        raise InvalidLora(
            f"the file holds {data_bytes} bytes of tensor data but its header describes {position}"
            " (truncated or padded file)"
        )


def lora_format(keys: list[str]) -> LoraFormat | None:
    """kohya (`lora_unet_…`, `lora_te_…` with `lora_down`/`lora_up`) or diffusers/peft
    (`….lora_A.weight`, `….lora.down.weight`); None when no key looks like a LoRA."""
    if any(k.startswith(KOHYA_PREFIXES) and any(p in k for p in KOHYA_PARTS) for k in keys):
        return "kohya"
    if any(p in k for k in keys for p in DIFFUSERS_PARTS):
        return "diffusers"
    return None


def describe(path: Path, header: SafetensorsHeader) -> HeaderFacts:
    """The facts a LoRA's header gives: format, rank/alpha, base model, trigger words."""
    fmt = lora_format(list(header.tensors))
    if fmt is None:
        raise InvalidLora(
            "no LoRA weights in this file (no lora_A/lora_B or lora_down/lora_up keys)"
        )
    meta = header.metadata
    downs = [e for k, e in header.tensors.items() if k.endswith(DOWN_PARTS) and e.shape]
    rank = _int(meta.get("ss_network_dim")) or (max(e.shape[0] for e in downs) if downs else None)
    alpha = _float(meta.get("ss_network_alpha"))
    if alpha is None:
        alpha = _diffusers_alpha(meta) if fmt == "diffusers" else _kohya_alpha(path, header)
    family, name = _base_model(meta, header, downs)
    return HeaderFacts(
        format=fmt,
        rank=rank,
        alpha=alpha,
        base_model=family,
        base_model_name=name,
        resolution=_resolution(meta.get("ss_resolution") or meta.get("modelspec.resolution")),
        trigger_words=_top_tags(meta.get("ss_tag_frequency")),
        description=meta.get("modelspec.description") or meta.get("ss_training_comment") or None,
    )


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _diffusers_alpha(meta: dict[str, str]) -> float | None:
    """diffusers ≥ 0.34 saves the peft config as `lora_adapter_metadata`."""
    try:
        config = json.loads(meta.get("lora_adapter_metadata", "{}"))
    except json.JSONDecodeError:
        return None
    values = [
        v for k, v in config.items() if k.endswith("lora_alpha") and isinstance(v, int | float)
    ]
    return float(values[0]) if values else None


def _kohya_alpha(path: Path, header: SafetensorsHeader) -> float | None:
    """kohya stores alpha as a scalar tensor per module: read the first one (a few bytes)."""
    entry = next((e for k, e in header.tensors.items() if k.endswith(".alpha")), None)
    formats = {"F32": "<f", "F16": "<e", "F64": "<d"}
    if entry is None or entry.shape not in ((), (1,)) or entry.dtype not in (*formats, "BF16"):
        return None
    with path.open("rb") as file:
        file.seek(header.data_start + entry.begin)
        raw = file.read(entry.end - entry.begin)
    if entry.dtype == "BF16":
        return round(struct.unpack("<f", b"\0\0" + raw)[0], 4)
    return round(struct.unpack(formats[entry.dtype], raw)[0], 4)


# kohya's `ss_base_model_version` / modelspec architecture prefixes → family
_FAMILIES = (
    ("sdxl", "sdxl"),
    ("stable-diffusion-xl", "sdxl"),
    ("sd_v1", "sd1"),
    ("stable-diffusion-v1", "sd1"),
    ("sd_v2", "sd2"),
    ("stable-diffusion-v2", "sd2"),
    ("sd3", "sd3"),
    ("stable-diffusion-3", "sd3"),
    ("flux", "flux"),
)
# cross-attention width of the UNet (the in-features of attn2.to_k) → family
_CROSS_ATTENTION_FAMILIES = {768: "sd1", 1024: "sd2", 2048: "sdxl"}


def _base_model(
    meta: dict[str, str], header: SafetensorsHeader, downs: list[TensorEntry]
) -> tuple[str | None, str | None]:
    declared = (
        meta.get("ss_base_model_version") or meta.get("modelspec.architecture") or ""
    ).lower()
    family = next((f for prefix, f in _FAMILIES if declared.startswith(prefix)), None)
    if family is None:
        widths = {
            e.shape[1]
            for k, e in header.tensors.items()
            if "attn2" in k and "to_k" in k and k.endswith(DOWN_PARTS) and len(e.shape) == 2
        }
        if len(widths) == 1:
            family = _CROSS_ATTENTION_FAMILIES.get(widths.pop())
    name = meta.get("ss_sd_model_name") or meta.get("modelspec.base_model") or None
    return family, name


def _resolution(value: str | None) -> list[int] | None:
    """kohya writes `(512, 512)` or `512,512`; modelspec writes `512x512`."""
    if not value:
        return None
    parts = [p for p in value.strip("()[] ").replace("x", ",").split(",") if p.strip()]
    numbers = [_int(p.strip()) for p in parts]
    if not numbers or any(n is None or n <= 0 for n in numbers):
        return None
    return [numbers[0], numbers[-1]]  # type: ignore[list-item]


def _top_tags(value: str | None) -> list[str]:
    """kohya's `ss_tag_frequency` ({dataset: {tag: count}}): the most frequent tags."""
    try:
        datasets = json.loads(value) if value else {}
    except json.JSONDecodeError:
        return []
    counts: Counter[str] = Counter()
    if isinstance(datasets, dict):
        for tags in datasets.values():
            if isinstance(tags, dict):
                counts.update(
                    {t.strip(): n for t, n in tags.items() if isinstance(n, int) and t.strip()}
                )
    return [tag for tag, _ in counts.most_common(SUGGESTED_TRIGGER_WORDS)]


@dataclass(frozen=True)
class _Cached:
    stamp: tuple[int, ...]  # (mtime, size) of the weights and the sidecar, preview mtime
    lora: Lora


class LoraLibrary:
    """The LoRA directory. Safe to share between threads; several processes (ingress and
    Diffusion replicas) may use the same directory at once: writes are atomic renames."""

    def __init__(self, root: Path, preview_prefix: str = "/api/v1/loras") -> None:
        self.root = root
        self.preview_prefix = preview_prefix
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    # --- reading -------------------------------------------------------------------

    def scan(self) -> list[Lora]:
        """Every valid LoRA, by name; headers are re-read only for files that changed."""
        entries: dict[str, os.stat_result] = {}
        if self.root.is_dir():
            with os.scandir(self.root) as it:
                for entry in it:
                    stem = entry.name[: -len(SUFFIX)]
                    if entry.name.endswith(SUFFIX) and entry.is_file() and _valid_name(stem):
                        entries[stem] = entry.stat()
        found = []
        with self._lock:
            for name in list(self._cache):
                if name not in entries:
                    del self._cache[name]
            for name in sorted(entries):
                lora = self._cached(name, entries[name])
                if lora is not None:
                    found.append(lora)
        return found

    def rescan(self) -> list[Lora]:
        """Forgets every cached header, then scans."""
        with self._lock:
            self._cache.clear()
        return self.scan()

    def search(
        self, q: str | None = None, tag: str | None = None, base: str | None = None
    ) -> list[Lora]:
        """Every term of `q` must appear in the name, title, description, tags or trigger
        words; `tag` must be one of the tags; `base` is the base-model family (or a part
        of the base checkpoint's name). All case-insensitive."""
        terms = (q or "").lower().split()
        results = []
        for lora in self.scan():
            text = " ".join(
                [lora.name, lora.title, lora.description, *lora.tags, *lora.trigger_words]
            ).lower()
            if any(term not in text for term in terms):
                continue
            if tag and tag.lower() not in {t.lower() for t in lora.tags}:
                continue
            if base and not _base_matches(lora, base.lower()):
                continue
            results.append(lora)
        return results

    def get(self, name: str) -> Lora:
        path = self.weights_path(name)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise LoraNotFound(name) from None
        with self._lock:
            lora = self._cached(name, stat)
        if lora is None:
            raise LoraNotFound(name)
        return lora

    def exists(self, name: str) -> bool:
        try:
            return self.weights_path(name).is_file()
        except UnsafeName:
            return False

    def weights_path(self, name: str) -> Path:
        return self.root / (check_segment(name) + SUFFIX)

    def weights_file(self, name: str) -> tuple[Path, str]:
        """The file to load and a version stamp that changes whenever it is replaced."""
        path = self.weights_path(name)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise LoraNotFound(name) from None
        return path, f"{stat.st_mtime_ns}-{stat.st_size}"

    def preview_path(self, name: str) -> Path:
        return self.root / (check_segment(name) + ".png")

    def _sidecar_path(self, name: str) -> Path:
        return self.root / (check_segment(name) + ".json")

    def _cached(self, name: str, stat: os.stat_result) -> Lora | None:
        sidecar = _stat_or_none(self._sidecar_path(name))
        preview = _stat_or_none(self.preview_path(name))
        stamp = (
            stat.st_mtime_ns,
            stat.st_size,
            sidecar.st_mtime_ns if sidecar else 0,
            sidecar.st_size if sidecar else -1,
            preview.st_mtime_ns if preview else 0,
        )
        cached = self._cache.get(name)
        if cached is not None and cached.stamp == stamp:
            return cached.lora
        try:
            lora = self._load(name, stat.st_size, preview)
        except (OSError, InvalidLora) as exc:
            logger.warning("skipping LoRA %s: %s", name, exc)
            self._cache.pop(name, None)
            return None
        self._cache[name] = _Cached(stamp, lora)
        return lora

    def _load(self, name: str, size: int, preview: os.stat_result | None) -> Lora:
        path = self.weights_path(name)
        facts = describe(path, read_header(path))
        card = self._read_card(name)
        return Lora(
            name=name,
            title=card.title or name,
            description=card.description
            if card.description is not None
            else facts.description or "",
            tags=card.tags or [],
            trigger_words=card.trigger_words
            if card.trigger_words is not None
            else facts.trigger_words,
            default_weight=card.default_weight if card.default_weight is not None else 1.0,
            base_model=facts.base_model,
            base_model_name=facts.base_model_name,
            resolution=facts.resolution,
            preview_url=self._preview_url(name, preview),
            size_bytes=size,
            rank=facts.rank,
            alpha=facts.alpha,
            format=facts.format,
        )

    def _read_card(self, name: str) -> LoraCard:
        path = self._sidecar_path(name)
        try:
            return LoraCard.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return LoraCard()
        except (OSError, ValidationError) as exc:
            logger.warning("ignoring unreadable sidecar %s: %s", path, exc)
            return LoraCard()

    def _preview_url(self, name: str, preview: os.stat_result | None) -> str | None:
        # the mtime busts browser caches when the picture is replaced
        return f"{self.preview_prefix}/{name}/preview?v={preview.st_mtime_ns}" if preview else None

    # --- writing -------------------------------------------------------------------

    def update(self, name: str, change: LoraUpdate) -> Lora:
        """Changes the sidecar fields that `change` sets; the rest stay."""
        self.get(name)
        card = self._read_card(name).model_copy(update=change.model_dump(exclude_unset=True))
        _write_atomic(
            self._sidecar_path(name), card.model_dump_json(indent=2, exclude_none=True).encode()
        )
        return self.get(name)

    def delete(self, name: str) -> None:
        """Removes the weights, the sidecar and the preview."""
        try:
            self.weights_path(name).unlink()
        except FileNotFoundError:
            raise LoraNotFound(name) from None
        for extra in (self._sidecar_path(name), self.preview_path(name)):
            extra.unlink(missing_ok=True)
        with self._lock:
            self._cache.pop(name, None)

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh file in the library's staging directory for an upload to stream into;
        removed afterwards unless `install` moved it into the library."""
        staging = self.root / STAGING_DIR
        staging.mkdir(parents=True, exist_ok=True)
        handle, raw = tempfile.mkstemp(dir=staging, suffix=".part")
        os.close(handle)
        path = Path(raw)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def install(self, staged: Path, name: str, overwrite: bool = False) -> Lora:
        """Validates a staged upload (header only) and moves it into the library
        atomically; raises InvalidLora, LoraExists or UnsafeName."""
        target = self.weights_path(name)
        describe(staged, read_header(staged))
        if overwrite:
            os.replace(staged, target)
        else:
            try:
                os.link(staged, target)  # fails if the name exists, with no window for a race
            except FileExistsError:
                raise LoraExists(name) from None
            except OSError:  # a filesystem without hard links: check, then rename
                if target.exists():
                    raise LoraExists(name) from None
                os.replace(staged, target)
            staged.unlink(missing_ok=True)
        return self.get(name)


def resolve_lora_set(
    prompt: str, explicit: list[LoraRef], library: LoraLibrary, max_loras: int = 8
) -> tuple[str, list[LoraRef]]:
    """Moves `<lora:name:weight>` tags out of the prompt into the LoRA list (an explicit
    entry wins over a tag of the same name; a weight left out is the LoRA's default) and
    checks that every LoRA is in the library. Returns the cleaned prompt and the set."""
    names = [lora.name for lora in explicit]
    if len(set(names)) != len(names):
        raise LoraSetError("loras", "a LoRA is listed twice")
    chosen = {lora.name: lora for lora in explicit}
    for lora in explicit:
        if "weight" not in lora.model_fields_set:
            chosen[lora.name] = LoraRef(name=lora.name, weight=_default_weight(library, lora.name))
    for match in LORA_TAG.finditer(prompt):
        name, weight = match.group(1).strip(), (match.group(2) or "").split(":")[0].strip()
        if name in chosen:
            continue
        try:
            chosen[name] = LoraRef(
                name=name, weight=float(weight) if weight else _default_weight(library, name)
            )
        except (ValueError, ValidationError):
            raise LoraSetError("prompt", f"invalid LoRA tag {match.group(0)!r}") from None
    for name in chosen:
        if not library.exists(name):
            raise LoraSetError("loras", f"unknown LoRA {name!r}; see GET /api/v1/loras")
    if len(chosen) > max_loras:
        raise LoraSetError("loras", f"at most {max_loras} LoRAs per job")
    cleaned = re.sub(r"[ \t]{2,}", " ", LORA_TAG.sub("", prompt)).strip(" \t,")
    if not cleaned.strip():
        raise LoraSetError("prompt", "the prompt is empty once its LoRA tags are removed")
    return cleaned, list(chosen.values())


def _default_weight(library: LoraLibrary, name: str) -> float:
    try:
        return library.get(name).default_weight
    except (LoraNotFound, UnsafeName):
        return 1.0  # an unknown name is reported by the existence check


def _valid_name(name: str) -> bool:
    try:
        check_segment(name)
    except UnsafeName:
        return False
    return True


def _base_matches(lora: Lora, base: str) -> bool:
    return (lora.base_model or "").lower() == base or base in (lora.base_model_name or "").lower()


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    handle, raw = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(raw, path)
    except BaseException:
        Path(raw).unlink(missing_ok=True)
        raise
