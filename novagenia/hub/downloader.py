"""Downloads by id, and the named Ray actor that hosts them (`HubDownloader`).

Downloads run in that actor rather than in the ingress replica that received the POST,
so they outlive that request and that replica; and not in the JobBoard, whose event loop
must stay free for jobs.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import ray

from novagenia.config import AppArgs
from novagenia.detached import detached_actor, existing_actor
from novagenia.hub.errors import DownloadNotFound, HubConflict, HubError, HubUnavailable
from novagenia.hub.plan import DownloadPlan, model_dir, partial_dir, plan_download
from novagenia.hub.protocol import ACTIVE, Download, DownloadRequest, DownloadStatus
from novagenia.hub.settings import HubSettings
from novagenia.hub.transfer import DownloadCancelled, Transfer, fetch_files, install
from novagenia.jobs.actor import get_board

logger = logging.getLogger("novagenia.hub")

PROGRESS_EVERY_S = 0.5


def failure_message(exc: BaseException) -> str:
    if isinstance(exc, HubUnavailable):
        return f"{exc}; POST the download again to resume"
    if isinstance(exc, HubError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "the models disk is full; free space and POST the download again to resume"
    if isinstance(exc, httpx2.HTTPError):
        return f"connection to the Hub lost ({type(exc).__name__}); POST again to resume"
    return f"download failed ({type(exc).__name__}: {exc})"


Publish = Callable[[dict[str, Any]], Awaitable[Any]]


class HubDownloads:
    """Downloads by id: plan (synchronously, so the POST gets a clear 4xx), then fetch in
    a worker thread, publish progress at most every `PROGRESS_EVERY_S`, and install."""

    def __init__(self, models_dir: Path, settings: HubSettings, publish: Publish) -> None:
        self.models_dir = models_dir
        self.settings = settings
        self._publish = publish
        self._downloads: dict[str, Download] = {}
        self._transfers: dict[str, Transfer] = {}
        self._tasks: set[asyncio.Task] = set()
        self._starting: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def start(self, request: DownloadRequest) -> Download:
        """A new download, or the one already under way for this repo (two ingress
        replicas may POST the same repo at once: one plans, the other waits)."""
        async with self._starting[request.repo_id]:
            for download in self._downloads.values():
                if download.repo_id == request.repo_id and download.status in ACTIVE:
                    return download.model_copy()
            plan = await asyncio.to_thread(plan_download, self.settings, request, self.models_dir)
            return self._launch(request, plan)

    def _launch(self, request: DownloadRequest, plan: DownloadPlan) -> Download:
        download = Download(
            id=uuid.uuid4().hex,
            repo_id=request.repo_id,
            revision=request.revision,
            variant=request.variant,
            status=DownloadStatus.queued,
            bytes_total=plan.bytes_total,
            files_total=len(plan.files),
            model_id=request.repo_id,
            created_at=time.time(),
        )
        transfer = Transfer(download)
        self._downloads[download.id] = download
        self._transfers[download.id] = transfer
        task = asyncio.get_running_loop().create_task(self._run(plan, transfer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return download.model_copy()

    def get(self, download_id: str) -> Download:
        download = self._downloads.get(download_id)
        if download is None:
            raise DownloadNotFound(f"no download with id {download_id}")
        return download.model_copy()

    def list(self) -> list[Download]:
        return [
            d.model_copy() for d in sorted(self._downloads.values(), key=lambda d: -d.created_at)
        ]

    def cancel(self, download_id: str) -> Download:
        """Stops at the next chunk; completed files stay for a later resume."""
        download = self.get(download_id)
        if download.status not in ACTIVE:
            raise HubConflict(f"download {download_id} is already {download.status.value}")
        self._transfers[download_id].cancel.set()
        return download

    async def _run(self, plan: DownloadPlan, transfer: Transfer) -> None:
        download = transfer.download
        download.status = DownloadStatus.running
        staging = partial_dir(self.models_dir, plan.repo_id)
        worker = asyncio.get_running_loop().run_in_executor(
            None, fetch_files, self.settings, plan, staging, transfer
        )
        try:
            while not worker.done():
                await self._publish_if_changed(transfer)
                await asyncio.wait({worker}, timeout=PROGRESS_EVERY_S)
            worker.result()
            await asyncio.to_thread(install, staging, model_dir(self.models_dir, plan.repo_id))
            download.status = DownloadStatus.succeeded
            logger.info("installed %s (%d bytes)", plan.repo_id, plan.bytes_total)
        except DownloadCancelled:
            download.status = DownloadStatus.cancelled
        except Exception as exc:
            logger.warning("download of %s failed", plan.repo_id, exc_info=exc)
            download.status = DownloadStatus.failed
            download.error = failure_message(exc)
        download.finished_at = time.time()
        transfer.changed = True
        self._transfers.pop(download.id, None)
        await self._publish_if_changed(transfer)

    async def _publish_if_changed(self, transfer: Transfer) -> None:
        if not transfer.changed:
            return
        transfer.changed = False
        try:
            await self._publish(transfer.download.model_dump(mode="json"))
        except Exception:
            logger.exception("could not publish download progress")


class HubDownloader:
    """The named actor that hosts `HubDownloads` for one app (see the module docstring)."""

    def __init__(self, args: dict[str, Any]) -> None:
        app_args = AppArgs.model_validate(args)
        board = get_board(app_args)

        async def publish(download: dict[str, Any]) -> None:
            await board.publish.remote("download", {"download": download})

        self.downloads = HubDownloads(
            app_args.models_dir, HubSettings(endpoint=app_args.hub_endpoint), publish
        )

    async def start(self, request: DownloadRequest) -> Download:
        return await self.downloads.start(request)

    async def get(self, download_id: str) -> Download:
        return self.downloads.get(download_id)

    async def list(self) -> list[Download]:
        return self.downloads.list()

    async def cancel(self, download_id: str) -> Download:
        return self.downloads.cancel(download_id)


class DownloaderHandle:
    """An ingress replica's way to the HubDownloader actor, which the first download
    starts rather than the app: its process imports torch and diffusers (3-4 s of CPU,
    a few hundred MB), which a server that never downloads should not pay, least of all
    while it runs its first jobs (on 2 cores it slowed them by a third; bench, 2026-12-06)."""

    def __init__(self, args: AppArgs) -> None:
        self._args = args
        self._actor: ray.actor.ActorHandle | None = None

    async def started(self) -> ray.actor.ActorHandle:
        """The actor, created now if no download has created it yet."""
        if self._actor is None:
            self._actor = await asyncio.to_thread(get_downloader, self._args)
        return self._actor

    async def running(self) -> ray.actor.ActorHandle | None:
        """The actor if some download created it (through any ingress replica)."""
        if self._actor is None:
            self._actor = await asyncio.to_thread(existing_actor, self._args.downloader_name)
        return self._actor


def get_downloader(args: AppArgs) -> ray.actor.ActorHandle:
    """Created on the first download, pinned to the head node like the board. A restart loses
    the list of downloads, not their files: POST the repo again to resume."""
    return detached_actor(
        HubDownloader,
        args.downloader_name,
        args.model_dump(mode="json"),
        max_concurrency=1000,
        # Plain HTTP transfers (not Xet), whose byte loop reports progress,
        # stops on cancel and resumes with Range requests.
        runtime_env={"env_vars": {"HF_HUB_DISABLE_XET": "1"}},
    )
