"""AUTOMATIC1111's request bodies and names, and their translation to ours.

Field names, defaults and sampler/scheduler names follow A1111 1.9+ (`/sdapi/v1`), which
is what webuiapi and the other clients send. Fields without an equivalent here are
accepted and ignored (logged when their value would have changed the picture).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from novagenia.engine.samplers import SAMPLERS
from novagenia.jobs.schemas import MAX_SEED

MAX_N_ITER = 100


class Txt2ImgRequest(BaseModel):
    """`POST /sdapi/v1/txt2img`. Defaults are A1111's, except the size, which defaults to
    the model's native size rather than 512×512."""

    model_config = ConfigDict(extra="allow")

    prompt: str = ""
    negative_prompt: str = ""
    seed: int = Field(-1, ge=-1, le=MAX_SEED, description="-1 = random.")
    steps: int = 50
    cfg_scale: float = 7.0
    width: int | None = None
    height: int | None = None
    sampler_name: str | None = None
    sampler_index: str | None = Field("Euler", description="Deprecated; used without sampler_name.")
    scheduler: str | None = None
    batch_size: int = Field(1, ge=1, le=8, description="Images per job (one pipeline call).")
    n_iter: int = Field(1, ge=1, le=MAX_N_ITER, description="Jobs, run one after another.")
    override_settings: dict[str, Any] | None = None
    send_images: bool = True
    tiling: bool = Field(False, description="Seamless pictures (UNet models).")
    enable_hr: bool = Field(False, description="Hires fix: a second, upscaled img2img pass.")
    hr_scale: float = Field(2.0, gt=1.0, le=4.0)
    hr_resize_x: int = Field(0, ge=0, description="Final width instead of hr_scale (0: scale).")
    hr_resize_y: int = Field(0, ge=0, description="Final height instead of hr_scale (0: scale).")
    hr_second_pass_steps: int = Field(0, ge=0, description="0: as many as `steps`.")
    denoising_strength: float = Field(
        0.7, ge=0, le=1, description="Of the hires pass (0: upscaled only)."
    )


class Img2ImgRequest(Txt2ImgRequest):
    """`POST /sdapi/v1/img2img`: txt2img's fields, the init image, and a mask to inpaint."""

    init_images: list[str] = Field(
        min_length=1,
        max_length=1,
        description="One base64 image (a data URL or raw base64); several are not supported.",
    )
    denoising_strength: float = Field(0.75, gt=0, le=1)
    mask: str | None = Field(None, description="Base64 mask: white is redrawn.")
    mask_blur: int = Field(4, ge=0, le=64)
    inpainting_mask_invert: int = Field(0, ge=0, le=1, description="1: redraw the black part.")
    inpaint_full_res: bool = Field(
        True, description="Only masked: the masked area is redrawn at full resolution."
    )
    inpaint_full_res_padding: int = Field(0, ge=0, le=1024, description="Its context, pixels.")


# Fields that never change the picture here, or only in features we lack when they are off.
SILENT_FIELDS = frozenset(
    {
        "sampler_index",
        "save_images",
        "do_not_save_samples",
        "do_not_save_grid",
        "override_settings_restore_afterwards",
        "force_task_id",
        "infotext",
        "comments",
        "script_args",
        "include_init_images",
        "resize_mode",  # 0, "just resize", the only one: the image is scaled to the size
    }
)
HIRES_PREFIXES = ("hr_", "firstphase_", "denoising_strength")
# A1111 fields whose client default means "off": any other value gets a log line.
NEUTRAL_VALUES: dict[str, tuple[Any, ...]] = {
    "subseed": (-1,),
    "seed_resize_from_h": (-1, 0),
    "seed_resize_from_w": (-1, 0),
    "eta": (1.0,),
    "s_noise": (1.0,),
}


def ignored_fields(request: Txt2ImgRequest) -> dict[str, Any]:
    """The unsupported fields a client actually used (not just sent at their defaults)."""
    ignored = {}
    for name, value in (request.model_extra or {}).items():
        if name == "alwayson_scripts" and isinstance(value, dict):
            # its ControlNet units are read (a1111_controlnet.py); other scripts are not
            value = {k: v for k, v in value.items() if k.casefold() != "controlnet"}
        if name == "script_name" and str(value).casefold() == "sd upscale":
            continue  # honoured (a1111_jobs.sd_upscale)
        if name in SILENT_FIELDS or value in (None, False, 0, "", [], {}):
            continue
        if name.startswith(HIRES_PREFIXES) and not request.enable_hr:
            continue
        if name == "hr_upscaler":
            continue  # read by a1111_jobs._hires_for, which logs one it lacks
        if value in NEUTRAL_VALUES.get(name, ()):
            continue
        ignored[name] = value
    return ignored


# ----------------------------------------------------------------- samplers


@dataclass(frozen=True)
class A1111Sampler:
    """One of A1111's sampler names and the sampler of ours it means, per scheduler."""

    plain: str  # ours, with the model's own timestep schedule
    aliases: tuple[str, ...] = ()
    karras: str | None = None  # ours, with Karras sigmas
    karras_by_default: bool = False  # A1111 1.9+'s "automatic" schedule is Karras

    @property
    def label(self) -> str:
        return SAMPLERS[self.plain].label

    def options(self) -> dict[str, str]:
        return {"scheduler": "karras"} if self.karras_by_default else {}


A1111_SAMPLERS = (
    A1111Sampler("euler_a", ("k_euler_a", "k_euler_ancestral")),
    A1111Sampler("euler", ("k_euler",)),
    A1111Sampler("lms", ("k_lms",)),
    A1111Sampler("heun", ("k_heun",)),
    A1111Sampler("dpmpp_2m", ("k_dpmpp_2m",), karras="dpmpp_2m_karras", karras_by_default=True),
    A1111Sampler("dpmpp_sde", ("k_dpmpp_sde",)),
    A1111Sampler("ddim", ()),
    A1111Sampler("pndm", ("plms",)),
    A1111Sampler("unipc", ()),
    A1111Sampler("lcm", ("k_lcm",)),
)
# Pre-1.9 names that fix the schedule in the sampler's name ("DPM++ 2M Karras").
LEGACY_KARRAS = {"k_dpmpp_2m_ka": "dpmpp_2m_karras"}

# A1111 1.9+'s schedulers: the ones honoured here, then the ones it knows but we do not
# implement (requests naming those run on "automatic", with a log line).
SCHEDULERS = (
    ("automatic", "Automatic", -1.0),
    ("uniform", "Uniform", -1.0),
    ("karras", "Karras", 7.0),
)
UNIMPLEMENTED_SCHEDULERS = (
    "exponential",
    "polyexponential",
    "sgm_uniform",
    "kl_optimal",
    "align_your_steps",
    "align_your_steps_gits",
    "align_your_steps_11",
    "align_your_steps_32",
    "simple",
    "normal",
    "ddim",
    "beta",
)


def _sampler_index() -> dict[str, A1111Sampler | str]:
    """Every accepted spelling (case-insensitive) → an A1111 sampler, or one of ours
    whose schedule is fixed."""
    index: dict[str, A1111Sampler | str] = {}
    for sampler in A1111_SAMPLERS:
        for name in (sampler.label, sampler.plain, *sampler.aliases):
            index[name.casefold()] = sampler
    for sampler in A1111_SAMPLERS:
        if sampler.karras is not None:
            for name in (SAMPLERS[sampler.karras].label, sampler.karras):
                index[name.casefold()] = sampler.karras
    for alias, ours in LEGACY_KARRAS.items():
        index[alias] = ours
    return index


SAMPLER_INDEX = _sampler_index()
SCHEDULER_NAMES = {
    spelling.casefold(): name for name, label, _ in SCHEDULERS for spelling in (name, label)
}


@dataclass(frozen=True)
class SamplerChoice:
    sampler: str  # ours
    ignored_scheduler: str | None = None  # an A1111 scheduler we do not implement


def choose_sampler(sampler_name: str, scheduler: str | None) -> SamplerChoice:
    """A1111's (sampler, scheduler) → our sampler. Raises ValueError for names A1111
    would not know either."""
    found = SAMPLER_INDEX.get(sampler_name.strip().casefold())
    if found is None:
        known = ", ".join(s.label for s in A1111_SAMPLERS)
        raise ValueError(f"unknown sampler {sampler_name!r}; known: {known}")
    wanted = (scheduler or "automatic").strip().casefold().replace(" ", "_")
    schedule = SCHEDULER_NAMES.get(wanted)
    ignored = None
    if schedule is None:
        if wanted not in UNIMPLEMENTED_SCHEDULERS:
            known = ", ".join(name for name, _, _ in SCHEDULERS)
            raise ValueError(f"unknown scheduler {scheduler!r}; supported: {known}")
        schedule, ignored = "automatic", scheduler
    if isinstance(found, str):
        return SamplerChoice(found, ignored)
    karras = schedule == "karras" or (schedule == "automatic" and found.karras_by_default)
    if karras and found.karras is None:
        # e.g. "Euler a" + "Karras": no Karras variant here; the sampler's own schedule.
        return SamplerChoice(found.plain, scheduler)
    return SamplerChoice(found.karras if karras else found.plain, ignored)


def scheduler_list() -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "label": label,
            "aliases": None,
            "default_rho": rho,
            "need_inner_model": False,
        }
        for name, label, rho in SCHEDULERS
    ]


def sampler_list() -> list[dict[str, Any]]:
    return [
        {"name": s.label, "aliases": [s.plain, *s.aliases], "options": s.options()}
        for s in A1111_SAMPLERS
    ]


# ------------------------------------------------------------------- models

_CHECKPOINT_HASH = re.compile(r"\s*\[[0-9A-Fa-f]*\]\s*$")


def checkpoint_candidates(title: str) -> list[str]:
    """A1111 titles look like `name.safetensors [hash]`; ours are model ids."""
    bare = _CHECKPOINT_HASH.sub("", title).strip()
    for suffix in (".safetensors", ".ckpt"):
        if bare.endswith(suffix):
            return [bare, bare.removesuffix(suffix)]
    return [bare]


def data_url_of(image: str) -> str:
    """A1111 clients send data URLs or raw base64 (ControlNet's habit)."""
    return image if image.startswith("data:") else f"data:image/png;base64,{image}"
