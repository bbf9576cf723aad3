"""The output store: generated PNGs under a local directory or any fsspec URI (s3://,
gs://, a shared mount), so replicas on several nodes write where the ingress reads."""

from __future__ import annotations

import fsspec

from novagenia.paths import check_segment


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

    def read(self, job_id: str, index: int) -> bytes:
        """Raises FileNotFoundError for anything the store does not hold."""
        with self.fs.open(self._path(job_id, index), "rb") as handle:
            return handle.read()

    @staticmethod
    def url(job_id: str, index: int) -> str:
        return f"/api/v1/images/{job_id}/{index}.png"
