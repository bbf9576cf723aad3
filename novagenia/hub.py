"""The Model Hub: find text-to-image diffusers pipelines on the Hugging Face Hub and
install them into the models dir, safetensors only, with progress, cancellation, resume.

Downloads run in one named Ray actor (`HubDownloader`) rather than in the ingress
replica that received the POST, so they outlive that request and that replica; and not
in the JobBoard, whose event loop must stay free for jobs. A download lands in
`<models_dir>/.partial/<org>/<name>/` and is renamed into place only when complete, so
a half-downloaded model never shows as installed; files already complete there are not
fetched again when the same repo is requested again (huggingface_hub 2.4 discards the
partial bytes of the file that was in flight, but resumes a dropped connection within
one download with an HTTP Range request).
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import httpx2
import ray
from huggingface_hub import HfApi, constants, get_token, hf_hub_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from pydantic import BaseModel, ConfigDict, Field

from novagenia.config import AppArgs
from novagenia.detached import detached_actor
from novagenia.embedded import EMBEDDED_NAMESPACE
from novagenia.jobs.actor import get_board
from novagenia.paths import safe_join
from novagenia.safetensors_header import PICKLE_SUFFIXES

logger = logging.getLogger("novagenia.hub")

PARTIAL_DIR = ".partial"
PROGRESS_EVERY_S = 0.5
SEARCH_TIMEOUT_S = 5.0

# `_class_name`s of model_index.json that generate from a prompt alone.
TEXT_TO_IMAGE_PIPELINES = frozenset(
    {
        "StableDiffusionPipeline",
        "StableDiffusionXLPipeline",
        "StableDiffusion3Pipeline",
        "LatentConsistencyModelPipeline",
        "PixArtAlphaPipeline",
        "PixArtSigmaPipeline",
        "SanaPipeline",
        "FluxPipeline",
        "AuraFlowPipeline",
        "Kandinsky3Pipeline",
        "HunyuanDiTPipeline",
        "LuminaPipeline",
        "Lumina2Pipeline",
        "CogView3PlusPipeline",
        "CogView4Pipeline",
        "QwenImagePipeline",
        "ChromaPipeline",
        "ZImagePipeline",
    }
)
COMPONENT_FILE_SUFFIXES = (".json", ".txt", ".model", ".safetensors")
SEARCH_FIELDS = [
    "downloads",
    "likes",
    "tags",
    "lastModified",
    "gated",
    "private",
    "config",
    "pipeline_tag",
]

HubSort = Literal["downloads", "likes", "trending_score", "last_modified", "created_at"]


# ------------------------------------------------------------------------ errors


class HubError(Exception):
    """A Hub request the user can act on; `status_code` is its HTTP status."""

    status_code = 502


class HubRepoNotFound(HubError):
    status_code = 404


class HubAuthRequired(HubError):
    status_code = 401


class HubForbidden(HubError):
    status_code = 403


class HubConflict(HubError):
    status_code = 409


class HubRefused(HubError):
    status_code = 422


class HubDiskFull(HubError):
    status_code = 507


class HubUnavailable(HubError):
    status_code = 503


class DownloadNotFound(HubError):
    status_code = 404


class DownloadCancelled(Exception):
    """Raised inside huggingface_hub's byte loop to stop a transfer at once."""


# ---------------------------------------------------------------------- protocol


class HubModel(BaseModel):
    id: str
    downloads: int | None = None
    likes: int | None = None
    tags: list[str] = Field(default_factory=list)
    last_modified: datetime | None = None
    pipeline_class: str | None = Field(None, description="model_index.json `_class_name`.")
    gated: bool = Field(False, description="Needs its license accepted on the Hub and HF_TOKEN.")
    private: bool = False


class HubSearch(BaseModel):
    models: list[HubModel]
    offline: bool = Field(
        description="True when HF_HUB_OFFLINE is set: no search, installed models still serve."
    )


class DownloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repo_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$",
        description="`org/name` of a diffusers text-to-image repo; installed under the same id.",
        examples=["stabilityai/sd-turbo"],
    )
    revision: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._/-]{1,200}$",
        description="Branch, tag or commit; main when absent.",
    )
    variant: Literal["fp16"] | None = Field(
        None,
        description="Prefer `*.fp16.safetensors` weights where the repo has them (half the bytes).",
    )


class DownloadStatus(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


ACTIVE = (DownloadStatus.queued, DownloadStatus.running)


class Download(BaseModel):
    id: str
    repo_id: str
    revision: str | None
    variant: str | None
    status: DownloadStatus
    bytes_done: int = 0
    bytes_total: int = 0
    files_done: int = 0
    files_total: int = 0
    error: str | None = None
    model_id: str = Field(description="The installed model's id once succeeded (= repo_id).")
    created_at: float
    finished_at: float | None = None


class DownloadList(BaseModel):
    downloads: list[Download]


# ------------------------------------------------------------------------ search


@dataclass(frozen=True)
class HubSettings:
    endpoint: str | None = None  # None: huggingface_hub's default
    token: str | None = None  # None: HF_TOKEN or the stored login

    def api(self) -> HfApi:
        return HfApi(endpoint=self.endpoint, token=self.token)

    @property
    def has_token(self) -> bool:
        return bool(self.token or get_token())


def search_models(settings: HubSettings, query: str, limit: int, sort: HubSort) -> HubSearch:
    """Text-to-image diffusers repos matching `query` (blocking: run it in a thread)."""
    if constants.is_offline_mode():
        return HubSearch(models=[], offline=True)
    with hub_errors("the search"):
        found = settings.api().list_models(
            search=query or None,
            filter="diffusers",
            pipeline_tag="text-to-image",
            sort=sort,
            limit=limit,
            expand=SEARCH_FIELDS,  # type: ignore[arg-type]
        )
        return HubSearch(models=[_hub_model(info) for info in found], offline=False)


async def search_within(
    settings: HubSettings, query: str, limit: int, sort: HubSort, timeout_s: float
) -> HubSearch:
    """`search_models`, answered within `timeout_s`: without a network huggingface_hub
    retries for tens of seconds, and a person waiting on a search box wants to know now."""
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(search_models, settings, query, limit, sort), timeout_s
        )
    except TimeoutError:
        raise HubUnavailable(
            f"the Hugging Face Hub cannot be reached (no answer within {timeout_s:g} s)"
        ) from None


def _hub_model(info: Any) -> HubModel:
    config = info.config if isinstance(info.config, dict) else {}
    diffusers_config = config.get("diffusers") or {}
    return HubModel(
        id=info.id,
        downloads=info.downloads,
        likes=info.likes,
        tags=info.tags or [],
        last_modified=info.last_modified,
        pipeline_class=diffusers_config.get("_class_name"),
        gated=bool(info.gated),
        private=bool(info.private),
    )


@contextmanager
def hub_errors(repo: str, has_token: bool = False) -> Iterator[None]:
    """Turns huggingface_hub's exceptions into `HubError`s with a message for people."""
    try:
        yield
    except HubError:
        raise
    except OfflineModeIsEnabled as exc:
        raise HubUnavailable("the Hub is off (HF_HUB_OFFLINE=1): no downloads") from exc
    except GatedRepoError as exc:
        if has_token:
            raise HubForbidden(
                f"{repo} is gated and this token has no access: accept its license on the Hub"
            ) from exc
        raise HubAuthRequired(
            f"{repo} is gated: accept its license on the Hub and set HF_TOKEN on the server"
        ) from exc
    except RevisionNotFoundError as exc:
        raise HubRepoNotFound(f"{repo} has no such revision") from exc
    except RepositoryNotFoundError as exc:
        raise HubRepoNotFound(
            f"no Hub repo {repo} (or it is private and HF_TOKEN has no access)"
        ) from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        if status == 403:
            raise HubForbidden(f"the Hub refused access to {repo}") from exc
        raise HubUnavailable(f"the Hub answered {status} for {repo}") from exc
    except httpx2.HTTPError as exc:
        raise HubUnavailable(f"the Hub cannot be reached ({type(exc).__name__})") from exc


# --------------------------------------------------------------------- downloads


@dataclass(frozen=True)
class DownloadPlan:
    """What to fetch: the exact commit and the files the pipeline needs, with sizes."""

    repo_id: str
    commit: str
    files: dict[str, int]

    @property
    def bytes_total(self) -> int:
        return sum(self.files.values())


def model_dir(models_dir: Path, repo_id: str) -> Path:
    return safe_join(models_dir, *repo_id.split("/"))


def partial_dir(models_dir: Path, repo_id: str) -> Path:
    return safe_join(models_dir / PARTIAL_DIR, *repo_id.split("/"))


def plan_download(
    settings: HubSettings, request: DownloadRequest, models_dir: Path
) -> DownloadPlan:
    """Checks, before any weight moves, that the repo is a text-to-image diffusers
    pipeline with safetensors weights for every component and that the disk can hold
    it. Blocking: run it in a thread."""
    repo = request.repo_id
    if repo.split("/")[0] == EMBEDDED_NAMESPACE:
        raise HubRefused(f"{EMBEDDED_NAMESPACE}/ is reserved for the embedded models")
    if (model_dir(models_dir, repo) / "model_index.json").is_file():
        raise HubConflict(f"{repo} is already installed; DELETE /api/v1/models/{repo} first")
    if constants.is_offline_mode():
        raise HubUnavailable("the Hub is off (HF_HUB_OFFLINE=1): no downloads")
    staging = partial_dir(models_dir, repo)
    with hub_errors(repo, settings.has_token):
        info = settings.api().model_info(repo, revision=request.revision, files_metadata=True)
        sizes = {s.rfilename: s.size or 0 for s in info.siblings or []}
        if "model_index.json" not in sizes:
            raise HubRefused(f"{repo} is not a diffusers pipeline (no model_index.json)")
        staging.mkdir(parents=True, exist_ok=True)
        index_path = hf_hub_download(
            repo,
            "model_index.json",
            revision=info.sha,
            local_dir=staging,
            endpoint=settings.endpoint,
            token=settings.token,
        )
    try:
        index = json.loads(Path(index_path).read_text())
        pipeline_class = index.get("_class_name")
        if pipeline_class not in TEXT_TO_IMAGE_PIPELINES:
            raise HubRefused(
                f"{repo} is a {pipeline_class}, not a text-to-image pipeline served here"
            )
        files = select_files(sizes, index, request.variant)
    except (HubRefused, ValueError):
        shutil.rmtree(staging, ignore_errors=True)  # nothing of a refused repo stays
        raise
    plan = DownloadPlan(repo, str(info.sha), files)
    _check_disk(plan, staging, models_dir)
    return plan


def select_files(
    sizes: dict[str, int], index: dict[str, Any], variant: str | None
) -> dict[str, int]:
    """model_index.json, each component's configs and tokenizer files, and its
    safetensors weights (the `variant` ones where present); never pickled weights.
    Refuses when a component has weights but none in safetensors."""
    components = {
        name
        for name, value in index.items()
        if not name.startswith("_") and isinstance(value, list) and value[0] is not None
    }
    chosen = {"model_index.json": sizes["model_index.json"]}
    by_component: dict[str, list[str]] = {}
    for name in sizes:
        parts = PurePosixPath(name).parts
        if len(parts) == 2 and parts[0] in components:
            by_component.setdefault(parts[0], []).append(name)
    pickled_only = []
    for component, names in sorted(by_component.items()):
        weights = [n for n in names if n.endswith(".safetensors")]
        if not weights and any(n.endswith(PICKLE_SUFFIXES) for n in names):
            pickled_only.append(component)
            continue
        wanted = [n for n in weights if _is_variant(n, variant)]
        weights = set(wanted or [n for n in weights if _is_variant(n, None)])
        for name in names:
            if name in weights or (
                name.endswith(COMPONENT_FILE_SUFFIXES)
                and not name.endswith(".safetensors")
                and _index_matches(name, weights)
            ):
                chosen[name] = sizes[name]
    if pickled_only:
        raise HubRefused(
            f"only .bin weights for {', '.join(pickled_only)}: refused "
            "(pickled weights can run code; only safetensors are installed)"
        )
    return chosen


def _is_variant(filename: str, variant: str | None) -> bool:
    """`unet/diffusion_pytorch_model.fp16.safetensors` (or a `.fp16-00001-of-00002` shard)
    is the fp16 variant; a name without a variant tag is the default one."""
    stem = PurePosixPath(filename).name.split(".safetensors")[0]
    tags = stem.split(".")[1:]
    if variant is None:
        return not tags
    return bool(tags) and tags[-1].split("-")[0] == variant


def _index_matches(filename: str, weights: set[str]) -> bool:
    """A shard index (`*.safetensors.index[.fp16].json`) only with its own shards."""
    if ".safetensors.index" not in filename:
        return True
    variant = filename.rsplit(".safetensors.index", 1)[1].removesuffix(".json").lstrip(".")
    return any(_is_variant(weight, variant or None) for weight in weights)


def _check_disk(plan: DownloadPlan, staging: Path, models_dir: Path) -> None:
    present = sum(_complete_size(staging, name, size) for name, size in plan.files.items())
    needed = plan.bytes_total - present
    free = shutil.disk_usage(models_dir).free
    if needed > free:
        raise HubDiskFull(
            f"{plan.repo_id} needs {needed / 1e9:.2f} GB more, the models disk has {free / 1e9:.2f} GB free"
        )


def _complete_size(staging: Path, name: str, size: int) -> int:
    path = staging / name
    return size if path.is_file() and path.stat().st_size == size else 0


class _Transfer:
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

    def __init__(self, transfer: _Transfer) -> None:
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
    settings: HubSettings, plan: DownloadPlan, staging: Path, transfer: _Transfer
) -> None:
    """Downloads the planned files one by one into `staging` (blocking)."""
    download = transfer.download
    done = {name for name, size in plan.files.items() if _complete_size(staging, name, size)}
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
        self._transfers: dict[str, _Transfer] = {}
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
        transfer = _Transfer(download)
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

    async def _run(self, plan: DownloadPlan, transfer: _Transfer) -> None:
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

    async def _publish_if_changed(self, transfer: _Transfer) -> None:
        if not transfer.changed:
            return
        transfer.changed = False
        try:
            await self._publish(transfer.download.model_dump(mode="json"))
        except Exception:
            logger.exception("could not publish download progress")


# ------------------------------------------------------------------------- actor


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


def get_downloader(args: AppArgs) -> ray.actor.ActorHandle:
    """Created on first use, pinned to the head node like the board. A restart loses
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
