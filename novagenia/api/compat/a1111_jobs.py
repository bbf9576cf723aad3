"""AUTOMATIC1111 generation requests (txt2img, img2img) as v1 jobs, and the answers A1111
clients expect back: model, sampler, guidance, hires fix and input pictures translated,
the rest checked by `submission.resolve_request` like any job."""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from novagenia import __version__
from novagenia.api.compat.a1111_controlnet import controlnet_units
from novagenia.api.compat.a1111_protocol import (
    Img2ImgRequest,
    SamplerChoice,
    Txt2ImgRequest,
    checkpoint_candidates,
    choose_sampler,
    data_url_of,
)
from novagenia.api.compat.generation import b64, describe_ignored, png_parameters, resolve_foreign
from novagenia.api.deps import AppContext
from novagenia.engine.families import Capabilities
from novagenia.engine.generate import image_seed
from novagenia.engine.infotext import A1111_UPSCALER_NAMES
from novagenia.engine.samplers import FLOW_TWINS, SAMPLERS
from novagenia.jobs.schemas import MAX_SEED, GenerationRequest, Job, JobStatus
from novagenia.models import ModelNotFound, ModelRegistry
from novagenia.paths import UnsafeName
from novagenia.submission import InvalidInput

logger = logging.getLogger("novagenia.compat.a1111")

FIELD_NAMES = {
    "guidance_scale": "cfg_scale",
    "sampler": "sampler_name",
    "model": "sd_model_checkpoint",
    "init_image": "init_images",
    "strength": "denoising_strength",
    "invert_mask": "inpainting_mask_invert",
    "upscale": "script_args",
}


def image_fields(body: Img2ImgRequest) -> dict[str, Any]:
    """img2img's picture, strength and mask as a job's fields."""
    images: dict[str, Any] = {
        "init_image": data_url_of(body.init_images[0]),
        "strength": body.denoising_strength,
    }
    upscale = sd_upscale(body)
    if upscale is not None:
        images["upscale"] = upscale
    if body.mask:
        images |= {
            "mask": data_url_of(body.mask),
            "mask_blur": body.mask_blur,
            "invert_mask": bool(body.inpainting_mask_invert),
            "mask_crop_padding": body.inpaint_full_res_padding if body.inpaint_full_res else None,
        }
    return images


SD_UPSCALE = "sd upscale"
UPSCALERS = {"lanczos", "none"}  # "None": a plain resize, which is Lanczos here too


def sd_upscale(body: Img2ImgRequest) -> dict[str, Any] | None:
    """The "SD upscale" script (`script_args`: [info, tile overlap, upscaler, scale]) as a
    job's tiled upscale; None for any other script."""
    extra = body.model_extra or {}
    if str(extra.get("script_name") or "").casefold() != SD_UPSCALE:
        return None
    args = extra.get("script_args") or []
    if not isinstance(args, list):
        raise InvalidInput("script_args", "SD upscale takes [info, overlap, upscaler, scale]")
    overlap = args[1] if len(args) > 1 else 64
    upscaler = args[2] if len(args) > 2 else "Lanczos"
    scale = args[3] if len(args) > 3 else 2.0
    # A1111's web UI sends the upscaler's index in its list: 0 None, 1 Lanczos, 2 Nearest…
    if isinstance(upscaler, int) and not isinstance(upscaler, bool):
        upscaler = ("None", "Lanczos")[upscaler] if upscaler in (0, 1) else upscaler
    if str(upscaler).casefold() not in UPSCALERS:
        raise InvalidInput(
            "script_args", f"upscaler {upscaler!r} is not available here: Lanczos or None"
        )
    return {"scale": scale, "overlap": overlap}


def model_for(body: Txt2ImgRequest, registry: ModelRegistry, default: str) -> str:
    overrides = dict(body.override_settings or {})
    title = overrides.pop("sd_model_checkpoint", None)
    if overrides:
        logger.info("txt2img: ignoring override_settings: %s", describe_ignored(overrides))
    if title is None:
        return default
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


def sampler_for(body: Txt2ImgRequest) -> SamplerChoice:
    name = body.sampler_name or body.sampler_index or "Euler"
    try:
        return choose_sampler(name, body.scheduler)
    except ValueError as exc:
        field_name = "scheduler" if "scheduler" in str(exc) else "sampler_name"
        raise InvalidInput(field_name, str(exc)) from None


def job_requests(
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
            "hires": _hires_for(body, capabilities),
            "controlnet": controlnet_units(body, context.registry),
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


def _hires_for(body: Txt2ImgRequest, capabilities: Capabilities | None) -> dict[str, Any] | None:
    """`enable_hr` and its `hr_*` fields as the job's hires fix: `hr_upscaler` Lanczos
    (also for None, which resizes), or one of the Latent upscalers where the model takes
    latents and the pass redraws; otherwise (an ESRGAN, Latent on Flux…) Lanczos, logged."""
    if not body.enable_hr:
        return None
    name = (body.model_extra or {}).get("hr_upscaler") or "Lanczos"
    upscaler = UPSCALERS_BY_A1111_NAME.get(str(name).casefold())
    latent_here = (
        capabilities is not None and capabilities.latent_upscale and body.denoising_strength > 0
    )
    if upscaler is not None and upscaler.startswith("latent") and not latent_here:
        upscaler = None
    if upscaler is None:
        logger.info("txt2img: upscaler %r does not apply here; the hires fix uses Lanczos", name)
    return {
        "scale": body.hr_scale,
        "strength": body.denoising_strength,
        "steps": body.hr_second_pass_steps or None,
        "width": body.hr_resize_x or None,
        "height": body.hr_resize_y or None,
        "upscaler": upscaler or "lanczos",
    }


UPSCALERS_BY_A1111_NAME = {
    "none": "lanczos",
    **{label.casefold(): upscaler for upscaler, label in A1111_UPSCALER_NAMES.items()},
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


def generation_response(
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
        "job_timestamp": job_timestamp(started),
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


def job_timestamp(unix: float | None) -> str:
    """A1111's `job_timestamp` format."""
    return time.strftime("%Y%m%d%H%M%S", time.localtime(unix)) if unix else "0"
