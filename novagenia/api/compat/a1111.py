"""`/sdapi/v1/...`: the AUTOMATIC1111 web UI API, translated onto the JobBoard.
txt2img and img2img become v1 jobs (the translation is `a1111_jobs`).

Choices where A1111 (one process, one user, no queue) and NovaGenIA differ:
- `n_iter` × `batch_size` images: `n_iter` jobs of `batch_size` images each (so memory
  per pipeline call is what the client asked for); image i of the request uses seed + i,
  as in A1111. The jobs are queued together and may run in parallel on several replicas.
- `interrupt` cancels the running jobs submitted through this API, and the queued jobs of
  the same txt2img requests; `skip` cancels only the running ones, so those requests go on
  with their next `n_iter` job. Jobs submitted through `/api/v1` or the PWA are left alone
  (they have `DELETE /api/v1/jobs/{id}`). An interrupted txt2img answers 200 with the
  images finished before the interrupt (possibly none).
- `progress` reports on the most recently started job of the whole server, whoever
  submitted it; `job_count` counts every queued and running job. `current_image` is the
  latest live preview (a small JPEG, base64).
- `options`: `sd_model_checkpoint` is the model compat requests use when they name none;
  it is kept per ingress replica (in memory) and starts as the server's default model.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status

from novagenia.api.compat.a1111_jobs import (
    generation_response,
    image_fields,
    job_requests,
    job_timestamp,
    match_checkpoint,
    model_for,
    sampler_for,
)
from novagenia.api.compat.a1111_protocol import (
    Img2ImgRequest,
    Txt2ImgRequest,
    ignored_fields,
)
from novagenia.api.compat.access import CompatCaller, CompatReader
from novagenia.api.compat.generation import (
    FINISHED_EVENTS,
    GenerationTimeout,
    cancel_jobs,
    describe_ignored,
    new_job_ids,
    read_pngs,
    request_group,
    run_jobs,
)
from novagenia.api.deps import AppContext, Context
from novagenia.api.fanout import EventFanout
from novagenia.jobs.schemas import Job, JobStatus
from novagenia.submission import InvalidInput

logger = logging.getLogger("novagenia.compat.a1111")

router = APIRouter(prefix="/sdapi/v1", tags=["AUTOMATIC1111 compatibility"])

JOB_PREFIX = "a1111"
MAX_TRACKED_PREVIEWS = 256


class PreviewTracker:
    """The latest live preview of each running job, for `current_image`. Follows every
    job's events through this replica's fan-out from its first use on."""

    def __init__(self, fanout: EventFanout) -> None:
        self._fanout = fanout
        self._latest: dict[str, str] = {}
        self._task: asyncio.Task | None = None

    def ensure_started(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._follow())

    def latest(self, job_id: str) -> str | None:
        """Base64 image data, without the `data:` prefix."""
        data_url = self._latest.get(job_id)
        return data_url.partition(",")[2] if data_url else None

    async def _follow(self) -> None:
        subscription = await self._fanout.subscribe(None)
        try:
            while True:
                event = await subscription.queue.get()
                if event["type"] == "preview":
                    self._latest.pop(event["job_id"], None)
                    self._latest[event["job_id"]] = event["image"]
                    if len(self._latest) > MAX_TRACKED_PREVIEWS:
                        self._latest.pop(next(iter(self._latest)))
                elif event["type"] in FINISHED_EVENTS:
                    self._latest.pop(event["job_id"], None)
        finally:
            self._fanout.unsubscribe(subscription)


# A1111 options that only steer its own web UI, with A1111's defaults
UI_PREFERENCES: dict[str, Any] = {
    "send_seed": True,
    "send_size": True,
    "return_grid": True,
    "do_not_show_images": False,
    "js_modal_lightbox": True,
}


@dataclass
class A1111State:
    """What A1111 keeps in its one process; here, per ingress replica."""

    previews: PreviewTracker
    checkpoint: str | None = None  # set through POST /options
    # A1111's web UI preferences (`send_seed`, …): kept and read back, as A1111 does;
    # they change nothing in a generation there either
    preferences: dict[str, Any] = field(default_factory=lambda: dict(UI_PREFERENCES))


def get_state(request: Request, context: Context) -> A1111State:
    state = getattr(request.app.state, "a1111", None)
    if state is None:
        state = request.app.state.a1111 = A1111State(PreviewTracker(context.fanout))
    return state


State = Annotated[A1111State, Depends(get_state)]


# -------------------------------------------------------------- generation


@router.post("/txt2img")
async def txt2img(
    body: Txt2ImgRequest, context: Context, state: State, caller: CompatCaller
) -> dict[str, Any]:
    """Generates `n_iter` × `batch_size` images and answers when all are done."""
    return await _generate("txt2img", body, {}, context, state, caller)


@router.post("/img2img")
async def img2img(
    body: Img2ImgRequest, context: Context, state: State, caller: CompatCaller
) -> dict[str, Any]:
    """txt2img from `init_images[0]`, redrawn by `denoising_strength`; with a `mask`,
    inpainting (white is redrawn; `inpainting_mask_invert: 1` redraws the black)."""
    return await _generate("img2img", body, image_fields(body), context, state, caller)


async def _generate(
    route: str,
    body: Txt2ImgRequest,
    images: dict[str, Any],
    context: AppContext,
    state: A1111State,
    caller: str | None,
) -> dict[str, Any]:
    model = model_for(body, context.registry, _current_checkpoint(context, state))
    choice = sampler_for(body)
    ignored = ignored_fields(body)
    if choice.ignored_scheduler:
        ignored["scheduler"] = choice.ignored_scheduler
    if ignored:
        logger.info("%s: ignoring unsupported settings: %s", route, describe_ignored(ignored))
    requests = job_requests(body, model, choice, context, images)
    state.previews.ensure_started()
    try:
        job_ids = new_job_ids(JOB_PREFIX, len(requests))
        jobs = await run_jobs(context, job_ids, requests, caller, caller)
    except GenerationTimeout as exc:
        raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, str(exc)) from None
    pngs = await read_pngs(context, jobs)
    failed = [job for job in jobs if job.status is JobStatus.failed]
    if failed and not pngs:
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR, f"generation failed: {failed[0].error}"
        )
    for job in failed:
        logger.warning("%s: job %s failed (%s); answering without it", route, job.id, job.error)
    return generation_response(body, requests[0], jobs, pngs)


# ---------------------------------------------------------------- progress


@router.get("/progress")
async def progress(
    context: Context,
    state: State,
    _: CompatReader,
    skip_current_image: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    """The most recently started running job of this server, as A1111 reports its one job."""
    state.previews.ensure_started()
    summary = await context.board.queue_summary.remote()
    running: list[Job] = summary["running"]
    job_count = len(running) + len(summary["queued"])
    current = max(running, key=lambda job: job.started_at or 0.0, default=None)
    if current is None or current.progress is None:
        step, total, eta = 0, 0, 0.0
    else:
        step, total = current.progress.step, current.progress.total_steps
        eta = current.progress.eta_s or 0.0
    image = None
    if current is not None and not skip_current_image:
        image = state.previews.latest(current.id)
    return {
        "progress": step / total if total else 0.0,
        "eta_relative": eta,
        "state": {
            "skipped": False,
            "interrupted": bool(current and current.cancel_requested),
            "job": current.id if current else "",
            "job_count": job_count,
            "job_timestamp": job_timestamp(current.started_at if current else None),
            "job_no": 0,
            "sampling_step": step,
            "sampling_steps": total,
        },
        "current_image": image,
        "textinfo": None,
    }


@router.post("/interrupt")
async def interrupt(context: Context, caller: CompatCaller) -> dict[str, Any]:
    """Stops the A1111 jobs that are running, and what their requests still had queued."""
    summary = await context.board.queue_summary.remote()
    running = _a1111_jobs(summary["running"])
    groups = {request_group(job.id) for job in running}
    queued = [job for job in _a1111_jobs(summary["queued"]) if request_group(job.id) in groups]
    await cancel_jobs(context, [job.id for job in running + queued])
    return {}


@router.post("/skip")
async def skip(context: Context, caller: CompatCaller) -> dict[str, Any]:
    """Stops the A1111 jobs that are running; their requests go on with the next job."""
    summary = await context.board.queue_summary.remote()
    await cancel_jobs(context, [job.id for job in _a1111_jobs(summary["running"])])
    return {}


def _a1111_jobs(jobs: list[Job]) -> list[Job]:
    return [job for job in jobs if job.id.startswith(JOB_PREFIX + "-")]


# ------------------------------------------------------------------- options


@router.get("/options")
async def get_options(context: Context, state: State, _: CompatReader) -> dict[str, Any]:
    every = context.args.preview_every_steps
    return {
        "sd_model_checkpoint": _current_checkpoint(context, state),
        "sd_checkpoint_hash": None,
        "samples_format": "png",
        "sd_vae": "Automatic",
        "CLIP_stop_at_last_layers": 1,
        "live_previews_enable": every > 0,
        "show_progress_every_n_steps": every,
        "live_previews_image_format": "jpeg",
        **state.preferences,
    }


@router.post("/options")
async def set_options(
    options: Annotated[dict[str, Any], Body()],
    context: Context,
    state: State,
    caller: CompatCaller,
) -> None:
    """`sd_model_checkpoint` sets the default model of compat requests; A1111's web UI
    preferences (`UI_PREFERENCES`) are kept and read back; other options are ignored
    (logged)."""
    for key in UI_PREFERENCES.keys() & options.keys():
        state.preferences[key] = options[key]
    others = {
        key: value
        for key, value in options.items()
        if key != "sd_model_checkpoint" and key not in UI_PREFERENCES
    }
    if others:
        logger.info("options: ignoring unsupported settings: %s", describe_ignored(others))
    if "sd_model_checkpoint" in options:
        title = options["sd_model_checkpoint"]
        if not isinstance(title, str) or not title.strip():
            raise InvalidInput("sd_model_checkpoint", "must be a non-empty string")
        state.checkpoint = match_checkpoint(context.registry, title)
        logger.info("options: compat requests now default to %s", state.checkpoint)


def _current_checkpoint(context: AppContext, state: A1111State) -> str:
    return state.checkpoint or context.registry.default_model


@router.api_route(
    "/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def unsupported(path: str) -> None:
    """A JSON 404 for the A1111 routes we lack (not the web app's index page)."""
    raise HTTPException(
        status.HTTP_404_NOT_FOUND, f"/sdapi/v1/{path} is not supported by NovaGenIA"
    )
