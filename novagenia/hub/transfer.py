"""Moving a planned download's files: fetched one by one into the staging directory
by huggingface_hub in a worker thread, counted byte by byte and stoppable at the next
chunk, then renamed into place."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any

from huggingface_hub import hf_hub_download

from novagenia.hub.errors import hub_errors
from novagenia.hub.plan import DownloadPlan, complete_size
from novagenia.hub.protocol import Download
from novagenia.hub.settings import HubSettings


class DownloadCancelled(Exception):
    """Raised inside huggingface_hub's byte loop to stop a transfer at once."""


class Transfer:
    """One running download's live counters, shared by its worker thread and the actor."""

    def __init__(self, download: Download) -> None:
        self.download = download
        self.cancel = threading.Event()
        self.changed = True

    def add(self, n: int) -> None:
        self.download.bytes_done += n
        self.changed = True
        if self.cancel.is_set():
            raise DownloadCancelled()

    def progress_bar(self, **_: Any) -> _FileProgress:
        return _FileProgress(self)


class _FileProgress:
    """The part of tqdm that huggingface_hub's byte loop uses, counting into a transfer."""

    def __init__(self, transfer: Transfer) -> None:
        self._transfer = transfer

    def __enter__(self) -> _FileProgress:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def update(self, n: int | float | None = 1) -> None:
        self._transfer.add(int(n or 0))

    def close(self) -> None:
        return None

    def set_postfix_str(self, *_: object, **__: object) -> None:
        return None


def fetch_files(
    settings: HubSettings, plan: DownloadPlan, staging: Path, transfer: Transfer
) -> None:
    """Downloads the planned files one by one into `staging` (blocking)."""
    download = transfer.download
    done = {name for name, size in plan.files.items() if complete_size(staging, name, size)}
    download.files_done = len(done)
    download.bytes_done = sum(plan.files[name] for name in done)
    for name in sorted(plan.files, key=lambda n: (n in done, plan.files[n])):
        if transfer.cancel.is_set():
            raise DownloadCancelled()
        with hub_errors(plan.repo_id, settings.has_token):
            hf_hub_download(
                plan.repo_id,
                name,
                revision=plan.commit,
                local_dir=staging,
                endpoint=settings.endpoint,
                token=settings.token,
                tqdm_class=transfer.progress_bar,  # type: ignore[arg-type]
            )
        done.add(name)
        download.files_done = len(done)
        download.bytes_done = sum(plan.files[n] for n in done)
        transfer.changed = True


def install(staging: Path, target: Path) -> None:
    """Moves a complete download into place in one rename (same filesystem)."""
    shutil.rmtree(staging / ".cache", ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, target)
