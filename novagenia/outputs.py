"""The output store: generated PNGs under a local directory or any fsspec URI (s3://,
gs://, a shared mount), so replicas on several nodes write where the ingress reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import fsspec

from novagenia.paths import check_segment


class DiskFull(OSError):
    """Too little free space for new pictures (HTTP 507)."""


class OutputStore:
    def __init__(self, uri: str) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(uri)
        self.root = self.root.rstrip("/")

    def _path(self, job_id: str, index: int) -> str:
        return f"{self.root}/{check_segment(job_id)}/{int(index)}.png"

    def write(self, job_id: str, index: int, data: bytes) -> None:
        path = self._path(job_id, index)
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with self.fs.open(path, "wb") as handle:
            handle.write(data)

    def delete(self, job_id: str) -> None:
        """Removes the job's pictures (nothing to do when it has none)."""
        folder = f"{self.root}/{check_segment(job_id)}"
        if self.fs.exists(folder):
            self.fs.rm(folder, recursive=True)

    def free_bytes(self) -> int | None:
        """Free space where the pictures go; None for remote stores (s3://…)."""
        if "file" not in self.fs.protocol:
            return None
        path = Path(self.root)
        while not path.exists():  # not created yet: its nearest existing parent's disk
            path = path.parent
        return shutil.disk_usage(path).free

    def check_room(self, min_free_bytes: float) -> None:
        """DiskFull when a local store has less than `min_free_bytes` free."""
        free = self.free_bytes()
        if free is not None and free < min_free_bytes:
            raise DiskFull(
                f"only {free / 2**20:.0f} MiB free where pictures are stored (the server "
                f"keeps {min_free_bytes / 2**20:.0f} MiB): no new jobs until space is freed"
            )

    def read(self, job_id: str, index: int) -> bytes:
        """Raises FileNotFoundError for anything the store does not hold."""
        with self.fs.open(self._path(job_id, index), "rb") as handle:
            return handle.read()

    @staticmethod
    def url(job_id: str, index: int) -> str:
        return f"/api/v1/images/{job_id}/{index}.png"
