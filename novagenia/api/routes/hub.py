"""`/hub`: search the Hugging Face Hub and install models from it (logic: `novagenia.hub`)."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, status

from novagenia.api.deps import AppContext, Caller, Context
from novagenia.hub.errors import DownloadNotFound
from novagenia.hub.protocol import Download, DownloadList, DownloadRequest, HubSearch, HubSort
from novagenia.hub.search import SEARCH_TIMEOUT_S, search_within
from novagenia.hub.settings import HubSettings

router = APIRouter(prefix="/hub", tags=["hub"])

T = TypeVar("T")


def error_responses(*codes: int) -> dict[int | str, dict[str, str]]:
    return {code: {"description": HUB_ERRORS[code]} for code in codes}


HUB_ERRORS = {
    401: "Gated repo and no HF_TOKEN on the server (or a missing API key).",
    403: "Gated repo this token may not access.",
    404: "No such repo, revision or download.",
    409: "Already installed, or the download already finished.",
    422: "Not a text-to-image diffusers pipeline, or pickled weights only.",
    503: "The Hub is unreachable or the server runs with HF_HUB_OFFLINE=1.",
    507: "Not enough free space in the models dir.",
}


@router.get("/search", response_model=HubSearch, responses=error_responses(503))
async def search(
    context: Context,
    q: Annotated[str, Query(max_length=200, description="Text to look for in repo ids.")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    sort: HubSort = "downloads",
) -> HubSearch:
    """Text-to-image diffusers pipelines; `offline: true` (and no models) when the server
    runs with HF_HUB_OFFLINE=1."""
    settings = HubSettings(endpoint=context.args.hub_endpoint)
    return await search_within(settings, q, limit, sort, SEARCH_TIMEOUT_S)


@router.post(
    "/downloads",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Download,
    responses=error_responses(401, 403, 404, 409, 422, 503, 507),
)
async def start_download(body: DownloadRequest, context: Context, caller: Caller) -> Download:
    """Checks the repo first (404 unknown, 401/403 gated, 422 not a text-to-image pipeline
    or pickled weights only, 409 installed, 507 no room), then downloads in the
    background. The same repo again while it runs gives the running download; after a
    failure or cancel it resumes."""
    downloader = await context.downloader.started()
    return await downloader.start.remote(body)


@router.get("/downloads", response_model=DownloadList)
async def list_downloads(context: Context) -> DownloadList:
    downloader = await context.downloader.running()
    return DownloadList(downloads=[] if downloader is None else await downloader.list.remote())


async def running_downloader(context: AppContext, download_id: str):
    """The downloader that holds `download_id`; none running means no such download."""
    downloader = await context.downloader.running()
    if downloader is None:
        raise DownloadNotFound(f"no download with id {download_id}")
    return downloader


@router.get("/downloads/{download_id}", response_model=Download, responses=error_responses(404))
async def get_download(download_id: str, context: Context) -> Download:
    downloader = await running_downloader(context, download_id)
    return await downloader.get.remote(download_id)


@router.delete(
    "/downloads/{download_id}", response_model=Download, responses=error_responses(404, 409)
)
async def cancel_download(download_id: str, context: Context, caller: Caller) -> Download:
    """Stops at the next chunk; files already complete stay for a later resume."""
    downloader = await running_downloader(context, download_id)
    return await downloader.cancel.remote(download_id)
