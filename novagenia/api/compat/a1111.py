"""`/sdapi/v1/...`: the AUTOMATIC1111 web UI API, translated onto the JobBoard.
txt2img and img2img (one init image; a mask for inpainting) become v1 jobs.

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
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status

from novagenia import __version__
from novagenia.api.compat.a1111_protocol import (
    Img2ImgRequest,
    SamplerChoice,
    Txt2ImgRequest,
    checkpoint_candidates,
    choose_sampler,
    ignored_fields,
)
from novagenia.api.compat.access import CompatCaller, CompatReader
from novagenia.api.compat.generation import (
    FINISHED_EVENTS,
    GenerationTimeout,
    b64,
    cancel_jobs,
    describe_ignored,
    new_job_ids,
    png_parameters,
    read_pngs,
    request_group,
    resolve_foreign,
    run_jobs,
)
from novagenia.api.deps import AppContext, Context
from novagenia.api.fanout import EventFanout
from novagenia.engine.families import Capabilities
from novagenia.engine.generate import image_seed
from novagenia.engine.samplers import FLOW_TWINS, SAMPLERS
from novagenia.jobs.schemas import MAX_SEED, GenerationRequest, Job, JobStatus
from novagenia.models import ModelNotFound, ModelRegistry
from novagenia.paths import UnsafeName
from novagenia.submission import InvalidInput

logger = logging.getLogger("novagenia.compat.a1111")

router = APIRouter(prefix="/sdapi/v1", tags=["AUTOMATIC1111 compatibility"])

JOB_PREFIX = "a1111"
FIELD_NAMES = {
    "guidance_scale": "cfg_scale",
    "sampler": "sampler_name",
    "model": "sd_model_checkpoint",
    "init_image": "init_images",
    "strength": "denoising_strength",
    "invert_mask": "inpainting_mask_invert",
}
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


@dataclass
class A1111State:
    """What A1111 keeps in its one process; here, per ingress replica."""

    previews: PreviewTracker
    checkpoint: str | None = None  # set through POST /options


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
    images: dict[str, Any] = {
        "init_image": _data_url(body.init_images[0]),
        "strength": body.denoising_strength,
    }
    if body.mask:
        images |= {
            "mask": _data_url(body.mask),
            "mask_blur": body.mask_blur,
            "invert_mask": bool(body.inpainting_mask_invert),
            "mask_crop_padding": body.inpaint_full_res_padding if body.inpaint_full_res else None,
        }
    return await _generate("img2img", body, images, context, state, caller)


def _data_url(image: str) -> str:
    """A1111 clients send data URLs or raw base64 (ControlNet's habit)."""
    return image if image.startswith("data:") else f"data:image/png;base64,{image}"


async def _generate(
    route: str,
    body: Txt2ImgRequest,
    images: dict[str, Any],
    context: AppContext,
    state: A1111State,
    caller: str | None,
) -> dict[str, Any]:
    model = _model_for(body, context.registry, state)
    choice = _sampler_for(body)
    ignored = ignored_fields(body)
    if choice.ignored_scheduler:
        ignored["scheduler"] = choice.ignored_scheduler
    if ignored:
        logger.info("%s: ignoring unsupported settings: %s", route, describe_ignored(ignored))
    requests = _job_requests(body, model, choice, context, images)
    state.previews.ensure_started()
    try:
        jobs = await run_jobs(context, new_job_ids(JOB_PREFIX, len(requests)), requests, caller)
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
    return _generation_response(body, requests[0], jobs, pngs)


def _model_for(body: Txt2ImgRequest, registry: ModelRegistry, state: A1111State) -> str:
    overrides = dict(body.override_settings or {})
    title = overrides.pop("sd_model_checkpoint", None)
    if overrides:
        logger.info("txt2img: ignoring override_settings: %s", describe_ignored(overrides))
    if title is None:
        return state.checkpoint or registry.default_model
    if not isinstance(title, str):
        raise InvalidInput("sd_model_checkpoint", "must be a string")
    return match_checkpoint(registry, title)


def match_checkpoint(registry: ModelRegistry, title: str) -> str:
    """An installed model id for an A1111 checkpoint title (exact, then case-insensitive)."""
    candidates = checkpoint_candidates(title)
    for candidate in candidates:
        try:
            return registry.get(candidate).id
        except (ModelNotFound, UnsafeName):
            continue
    by_folded = {model.id.casefold(): model.id for model in registry.list()}
    for candidate in candidates:
        if candidate.casefold() in by_folded:
            return by_folded[candidate.casefold()]
    raise InvalidInput(
        "sd_model_checkpoint", f"unknown checkpoint {title!r}; see GET /sdapi/v1/sd-models"
    )


def _sampler_for(body: Txt2ImgRequest) -> SamplerChoice:
    name = body.sampler_name or body.sampler_index or "Euler"
    try:
        return choose_sampler(name, body.scheduler)
    except ValueError as exc:
        field_name = "scheduler" if "scheduler" in str(exc) else "sampler_name"
        raise InvalidInput(field_name, str(exc)) from None


def _job_requests(
    body: Txt2ImgRequest,
    model: str,
    choice: SamplerChoice,
    context: AppContext,
    images: dict[str, Any],
) -> list[GenerationRequest]:
    """One request per `n_iter`; job k's first seed continues where job k-1's ended."""
    seed = body.seed if body.seed >= 0 else secrets.randbelow(MAX_SEED + 1)
    try:
        capabilities = context.registry.get(model).capabilities
    except (ModelNotFound, UnsafeName):
        capabilities = None  # resolve_foreign says what is wrong with it
    first = resolve_foreign(
        {
            "prompt": body.prompt,
            "negative_prompt": body.negative_prompt,
            "model": model,
            "width": body.width,
            "height": body.height,
            "steps": body.steps,
            "seed": seed,
            "sampler": _sampler_on(choice.sampler, capabilities),
            "batch_size": body.batch_size,
            "tiling": body.tiling,
            "hires": _hires_for(body),
            **_guidance_for(body, capabilities),
            **images,
        },
        FIELD_NAMES,
        context,
    )
    return [
        first.model_copy(update={"seed": image_seed(seed, k * body.batch_size)})
        for k in range(body.n_iter)
    ]


def _hires_for(body: Txt2ImgRequest) -> dict[str, Any] | None:
    """`enable_hr` and its `hr_*` fields as the job's hires fix (always Lanczos: other
    `hr_upscaler`s are logged as ignored)."""
    if not body.enable_hr:
        return None
    return {
        "scale": body.hr_scale,
        "strength": body.denoising_strength,
        "steps": body.hr_second_pass_steps or None,
        "width": body.hr_resize_x or None,
        "height": body.hr_resize_y or None,
    }


def _sampler_on(sampler: str, capabilities: Capabilities | None) -> str:
    """A1111 names one sampler for every model ("Euler" on Flux too): on a flow-matching
    model a classic sampler means its flow twin."""
    if capabilities is None or sampler in capabilities.samplers:
        return sampler
    twin = FLOW_TWINS.get(sampler)
    return twin if twin in capabilities.samplers else sampler


def _guidance_for(body: Txt2ImgRequest, capabilities: Capabilities | None) -> dict[str, float]:
    """`cfg_scale`, which A1111 always has (7 by default), leaves a model without
    classifier-free guidance at its own default unless the client set it (on Flux dev
    it is then the distilled guidance)."""
    cfg = capabilities is None or capabilities.guidance == "cfg"
    if cfg or "cfg_scale" in body.model_fields_set:
        return {"guidance_scale": body.cfg_scale}
    return {}


def _generation_response(
    body: Txt2ImgRequest, request: GenerationRequest, jobs: list[Job], pngs: list[bytes]
) -> dict[str, Any]:
    done = [job for job in jobs if job.status is JobStatus.succeeded]
    seeds = [image.seed for job in done for image in job.images]
    count = len(seeds)
    started = min((job.started_at or job.created_at for job in jobs), default=time.time())
    info = {
        "prompt": body.prompt,
        "all_prompts": [body.prompt] * count,
        "negative_prompt": body.negative_prompt,
        "all_negative_prompts": [body.negative_prompt] * count,
        "seed": request.seed,
        "all_seeds": seeds,
        "subseed": -1,
        "all_subseeds": [-1] * count,
        "subseed_strength": 0,
        "width": request.width,
        "height": request.height,
        "sampler_name": SAMPLERS[request.sampler].label,
        "cfg_scale": request.guidance_scale,
        "steps": request.steps,
        "batch_size": request.batch_size,
        "restore_faces": False,
        "face_restoration_model": None,
        "sd_model_name": request.model,
        "sd_model_hash": None,
        "sd_vae_name": None,
        "sd_vae_hash": None,
        "seed_resize_from_w": -1,
        "seed_resize_from_h": -1,
        "denoising_strength": request.strength if request.init_image else None,
        "extra_generation_params": {},
        "index_of_first_image": 0,
        "infotexts": [png_parameters(png) for png in pngs],
        "styles": [],
        "job_timestamp": _timestamp(started),
        "clip_skip": 1,
        "is_using_inpainting_conditioning": False,
        "version": f"NovaGenIA {__version__}",
        "job_ids": [job.id for job in jobs],
    }
    return {
        "images": [b64(png) for png in pngs] if body.send_images else [],
        "parameters": body.model_dump(mode="json", exclude={"init_images", "mask"}),
        "info": json.dumps(info),
    }


def _timestamp(unix: float | None) -> str:
    """A1111's `job_timestamp` format."""
    return time.strftime("%Y%m%d%H%M%S", time.localtime(unix)) if unix else "0"


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
            "job_timestamp": _timestamp(current.started_at if current else None),
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
    }


@router.post("/options")
async def set_options(
    options: Annotated[dict[str, Any], Body()],
    context: Context,
    state: State,
    caller: CompatCaller,
) -> None:
    """Only `sd_model_checkpoint` has an effect; other options are ignored (logged)."""
    others = {key: value for key, value in options.items() if key != "sd_model_checkpoint"}
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
