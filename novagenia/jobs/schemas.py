"""The job model shared by the API, the JobBoard and the Diffusion replicas.

These pydantic models *are* the public contract of `/api/v1/jobs` (see docs/architecture.md): the
board stores and returns them, the ingress serialises them unchanged.
"""

from __future__ import annotations

import math
import re
from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from novagenia.config import CEILING_IMAGES_PER_JOB, CEILING_SIZE, CEILING_STEPS
from novagenia.controlnet.preprocessors import Passthrough, Preprocessor

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
MODEL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$"
MAX_SEED = 2**32 - 1
LORA_TAG = re.compile(r"<lora:([^:>]+)(?::([^>]*))?>")


class JobStatus(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    expired = "expired"  # not started before its `cancel_after`

    @property
    def finished(self) -> bool:
        return self not in (JobStatus.queued, JobStatus.running)


class LoraRef(BaseModel):
    """One LoRA applied to a job, with its strength."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="LoRA name in the library.")
    weight: float = Field(1.0, ge=-2.0, le=2.0, description="Strength, -2…2.")


HiresUpscaler = Literal[
    "lanczos",
    "latent",
    "latent-antialiased",
    "latent-bicubic",
    "latent-bicubic-antialiased",
    "latent-nearest",
    "latent-nearest-exact",
]


class HiresFix(BaseModel):
    """A second pass at a larger size: the first picture (or its latents), upscaled,
    redrawn by img2img, so a model keeps the composition of its native size at a
    larger one."""

    model_config = ConfigDict(extra="forbid")

    scale: float = Field(2.0, gt=1.0, le=4.0, description="Final size / first-pass size.")
    width: int | None = Field(
        None,
        ge=64,
        le=CEILING_SIZE,
        description="The final size; absent: scale × the first pass's, rounded to the "
        "model's size multiple (the server fills both in).",
    )
    height: int | None = Field(None, ge=64, le=CEILING_SIZE, description="See width.")
    strength: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="How much of the upscaled picture is redrawn (0: upscaled only).",
    )
    steps: int | None = Field(
        None, ge=1, le=CEILING_STEPS, description="Steps of the second pass; absent: `steps`."
    )
    upscaler: HiresUpscaler = Field(
        "lanczos",
        description="`lanczos`: the decoded picture is upscaled; `latent…`: the first "
        "pass's latents are, before any decoding (bilinear, bicubic or nearest, as "
        "AUTOMATIC1111's Latent upscalers; SD 1.x/2.x and SDXL).",
    )

    @property
    def in_latent_space(self) -> bool:
        return self.upscaler.startswith("latent")


class TiledUpscale(BaseModel):
    """An existing picture made larger ("SD upscale"): the init image, upscaled (Lanczos)
    by `scale`, is redrawn tile by tile at the job's width × height by img2img, and the
    tiles are blended where they overlap: detail at a size the model could not draw at
    once."""

    model_config = ConfigDict(extra="forbid")

    scale: float = Field(2.0, gt=1.0, le=4.0, description="Final size / the init image's.")
    overlap: int = Field(
        64, ge=0, le=512, description="Pixels by which neighbouring tiles overlap (blended)."
    )
    width: int | None = Field(
        None, ge=64, le=CEILING_SIZE, description="The final size; the server fills it in."
    )
    height: int | None = Field(None, ge=64, le=CEILING_SIZE, description="See width.")

    def tiles(self, tile_width: int, tile_height: int) -> list[tuple[int, int]]:
        """Top-left corners of the tiles covering the final size, evenly spread, each
        overlapping its neighbours by at least `overlap`."""
        assert self.width is not None and self.height is not None
        return [
            (x, y)
            for y in _tile_starts(self.height, tile_height, self.overlap)
            for x in _tile_starts(self.width, tile_width, self.overlap)
        ]


def _tile_starts(total: int, tile: int, overlap: int) -> list[int]:
    if total <= tile:
        return [0]
    overlap = min(overlap, tile // 2)  # a tile at least half new
    count = math.ceil((total - overlap) / (tile - overlap))
    count = max(2, count)
    return [round(i * (total - tile) / (count - 1)) for i in range(count)]


class ControlNetUnit(BaseModel):
    """One ControlNet guiding a job: its model, the picture it follows (made into a
    control map by the preprocessor, on the replica), how strongly and over which part
    of the steps."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        pattern=MODEL_ID_PATTERN, description="An installed ControlNet (GET /controlnet/models)."
    )
    image: str | None = Field(
        None,
        max_length=16_000_000,
        description="The picture to follow: an input id (POST /inputs) or a data URL; "
        "absent: the job's init_image. Resized to the job's width × height.",
    )
    preprocessor: Preprocessor = Field(
        default_factory=Passthrough,
        description="What turns the picture into the control map: `none` (it already is "
        "one), `canny`, `lineart`, `scribble`, `tile`; a name, or an object with the "
        "name and its options (GET /controlnet/preprocessors).",
    )
    weight: float = Field(1.0, ge=0.0, le=2.0, description="How strongly it guides.")
    guidance_start: float = Field(
        0.0, ge=0.0, le=1.0, description="Fraction of the steps at which it starts guiding."
    )
    guidance_end: float = Field(
        1.0, ge=0.0, le=1.0, description="Fraction of the steps at which it stops."
    )

    @model_validator(mode="after")
    def _range_not_empty(self) -> ControlNetUnit:
        if self.guidance_start >= self.guidance_end:
            raise ValueError("guidance_start must be below guidance_end")
        return self


WebhookEvent = Literal["queued", "started", "progress", "completed"]


class Webhook(BaseModel):
    """Where the server POSTs a job's events, signed (Standard Webhooks; the key's secret
    from `GET /api/v1/webhooks/secret`)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=2048,
        description="http(s) URL; private, loopback and link-local addresses are refused "
        "unless the server allows them (`webhook_private_networks`).",
    )
    events: list[WebhookEvent] = Field(
        default_factory=lambda: ["completed"],
        min_length=1,
        description="`completed` (succeeded, failed or cancelled), `queued`, `started`, "
        "`progress` (at most 2 a second).",
    )

    @field_validator("events")
    @classmethod
    def _unique(cls, events: list[str]) -> list[str]:
        return list(dict.fromkeys(events))


class GenerationRequest(BaseModel):
    """What a client asks for. Unknown fields are ignored (and logged by the ingress)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    prompt: str = Field(min_length=1, max_length=4000, description="What to draw.")
    negative_prompt: str = Field("", max_length=4000, description="What to avoid.")
    model: str | None = Field(
        None, pattern=MODEL_ID_PATTERN, description="Model id; the configured default when absent."
    )
    width: int | None = Field(
        None,
        ge=64,
        le=CEILING_SIZE,
        multiple_of=8,
        description="Pixels; the model's native size when absent.",
    )
    height: int | None = Field(
        None,
        ge=64,
        le=CEILING_SIZE,
        multiple_of=8,
        description="Pixels; the model's native size when absent.",
    )
    # Left out, these three take the model's own defaults (GET /models `capabilities`);
    # the values below are those of SD 1.x, the embedded models' family.
    steps: int = Field(
        20, ge=1, le=CEILING_STEPS, description="Denoising steps; absent: the model's default."
    )
    guidance_scale: float = Field(
        7.0,
        ge=0.0,
        le=30.0,
        description="Classifier-free guidance (CFG), or Flux dev's distilled guidance; "
        "absent: the model's default.",
    )
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="Seed of the first image; random when absent."
    )
    sampler: str = Field(
        "euler_a",
        max_length=64,
        description="Sampler name (GET /samplers); absent: the model's default.",
    )
    batch_size: int = Field(
        1, ge=1, le=CEILING_IMAGES_PER_JOB, description="Images made by this job."
    )
    loras: list[LoraRef] = Field(default_factory=list, max_length=8)
    speed: Literal["quality", "fast"] = Field(
        "quality",
        description="`fast`: step caching (attention reused between steps in the middle of "
        "the schedule), about a tenth faster for a small quality cost (README, Speed).",
    )
    tiling: bool = Field(
        False,
        description="Seamless: the picture's edges continue each other, so it tiles "
        "(models with a UNet: SD 1.x/2.x, SDXL).",
    )
    hires: HiresFix | None = Field(
        None,
        description="Hires fix: draw at width × height, then upscale by `hires.scale` and "
        "redraw by img2img; the images come at the larger size.",
    )
    init_image: str | None = Field(
        None,
        max_length=16_000_000,
        description="img2img: the picture to start from, an id from POST /inputs or a data "
        "URL (data:image/png;base64,…; stored as an input, the job keeps its id). Resized to "
        "width × height, which default to its size.",
    )
    strength: float = Field(
        0.75,
        gt=0.0,
        le=1.0,
        description="With init_image: how much of it is redrawn (the last strength × steps "
        "steps run; 1 = all of it).",
    )
    mask: str | None = Field(
        None,
        max_length=16_000_000,
        description="Inpainting, with init_image: white is redrawn, black kept (an input id "
        "or a data URL, like init_image).",
    )
    mask_blur: int = Field(
        4, ge=0, le=64, description="Pixels of Gaussian blur on the mask's edge."
    )
    invert_mask: bool = Field(False, description="Redraw the mask's black part instead.")
    mask_crop_padding: int | None = Field(
        None,
        ge=0,
        le=1024,
        description="Inpaint only the masked area at full resolution: the box around the "
        "mask, grown by this many pixels of context, is redrawn at width × height and "
        "pasted back; everything outside it stays exactly as it was.",
    )
    upscale: TiledUpscale | None = Field(
        None,
        description='Tiled upscaling of the init_image (A1111\'s "SD upscale"): upscaled '
        "by `upscale.scale`, redrawn tile by tile at width × height (default: the model's "
        "native size) with `strength`; the images come at the larger size.",
    )
    controlnet: list[ControlNetUnit] = Field(
        default_factory=list,
        max_length=4,
        description="ControlNet units: each guides the composition by a picture (its "
        "edges, lines, a blurred copy…); models with a UNet (SD 1.x/2.x, SDXL).",
    )
    priority: int = Field(0, ge=-1000, le=1000, description="Higher runs first.")
    user: str | None = Field(None, max_length=128, description="Who submitted it (fairness).")
    webhook: Webhook | None = Field(None, description="Tell a URL of this job's events.")
    cancel_after: float | None = Field(
        None,
        gt=0,
        le=7 * 86_400,
        description="Seconds after submission: a job not started by then ends `expired`; "
        "one still running then is cancelled at its next step.",
    )

    @property
    def hires_steps(self) -> int:
        """Steps of the hires fix's second pass (as many as `steps` unless set; 0 without
        one, or when it only upscales)."""
        if self.hires is None or self.hires.strength == 0:
            return 0
        return self.hires.steps or self.steps

    @property
    def total_steps(self) -> int:
        """Steps of every pass: the hires fix's second one counts too, and a tiled
        upscale's every tile."""
        if self.upscale is not None and self.width and self.height:
            return self.steps * len(self.upscale.tiles(self.width, self.height))
        return self.steps + self.hires_steps

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt must not be empty")
        return value


class Progress(BaseModel):
    step: int = 0
    total_steps: int
    elapsed_s: float = 0.0
    eta_s: float | None = None


class ImageInfo(BaseModel):
    index: int
    url: str
    seed: int
    width: int
    height: int


class FrontMove(BaseModel):
    """Where a job moved to the front queues: at priority level `level` (the highest
    queued when it moved), ahead of the jobs there; later moves go further ahead."""

    level: int
    at: float = Field(description="Unix time of the move.")


class Job(BaseModel):
    """A generation job as the board keeps it and the API returns it."""

    id: str
    status: JobStatus
    request: GenerationRequest = Field(
        description="The request, with model, size and seed resolved."
    )
    model: str
    priority: int
    user: str | None = None
    owner: str | None = Field(
        None, description="The API key that submitted it (a label, never the key)."
    )
    position: int | None = Field(None, description="0 = runs next; only for queued jobs.")
    created_at: float = Field(description="Unix time, seconds.")
    started_at: float | None = None
    finished_at: float | None = None
    progress: Progress | None = None
    images: list[ImageInfo] = Field(default_factory=list)
    error: str | None = None
    attempts: int = 0
    moved_to_front: FrontMove | None = Field(
        None, description="Set when moved to the front; its own priority is unchanged."
    )
    cancel_requested: bool = False
    worker: str | None = None

    @property
    def deadline(self) -> float | None:
        """Unix time of its `cancel_after`, if it has one."""
        after = self.request.cancel_after
        return None if after is None else self.created_at + after


class PriorityChange(BaseModel):
    """Body of `PATCH /jobs/{id}`."""

    model_config = ConfigDict(extra="forbid")

    priority: int | None = Field(None, ge=-1000, le=1000)
    front: bool = Field(
        False,
        description="Jump ahead of every job queued for its model now (its priority stays).",
    )
