"""The LoRA library: `.safetensors` files in one directory, described by what their
header says (kohya `ss_*` training metadata, key layout, ranks) merged with a sidecar
`<name>.json` the user edits, and a `<name>.png` preview next to them.

Only headers are read (8-byte length + JSON), never tensors, and never a pickle: a file
is listed, and an upload accepted, only when its header is a consistent safetensors
header that names LoRA weights. Scans are keyed by (mtime, size), so listing the library
per request costs one directory read and a few stats.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from novagenia.loras.describe import InvalidLora, LoraFormat, describe, read_lora_header
from novagenia.paths import UnsafeName, check_segment

logger = logging.getLogger("novagenia.loras")

SUFFIX = ".safetensors"
STAGING_DIR = ".staging"  # uploads land here first: same filesystem, so the rename is atomic


class LoraNotFound(LookupError):
    """No LoRA of this name in the library."""


class LoraExists(FileExistsError):
    """An upload would replace a LoRA without `overwrite`."""


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
        facts = describe(path, read_lora_header(path))
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
        describe(staged, read_lora_header(staged))
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
