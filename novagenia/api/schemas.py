"""Response bodies of the v1 API that are not jobs themselves."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from novagenia.config import MemoryPlan
from novagenia.hub import Download
from novagenia.jobs.protocol import EventFields, JobStateEvent, PreviewEvent, ProgressEvent
from novagenia.jobs.schemas import Job
from novagenia.jobs.webhooks import WebhookDelivery


class DeliveryList(BaseModel):
    deliveries: list[WebhookDelivery] = Field(description="Oldest first.")


class WebhookSecret(BaseModel):
    secret: str = Field(
        description="`whsec_` + base64 key: give it to a Standard Webhooks verifier."
    )


class JobPage(BaseModel):
    jobs: list[Job]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class ModelCounts(BaseModel):
    queued: int = 0
    running: int = 0


class QueueSummary(BaseModel):
    counts: dict[str, int]
    models: dict[str, ModelCounts]
    queued: list[Job] = Field(description="In the order they will run.")
    running: list[Job]


class CapabilitiesOut(BaseModel):
    """What requests for a model may ask, and what they get when they leave it out."""

    family: str = Field(description="sd, sdxl, sd3, flux, pixart or sana.")
    family_label: str
    default_sampler: str
    default_steps: int
    default_guidance: float
    guidance: Literal["cfg", "distilled", "none"] = Field(
        description="cfg: classifier-free guidance; distilled: Flux dev's guidance input, "
        "no negative prompt; none: no guidance at all (Flux schnell)."
    )
    negative_prompt: bool = Field(description="Whether a negative prompt applies.")
    loras: bool = Field(description="Whether LoRAs from the library apply.")
    size_multiple: int = Field(description="Width and height must be multiples of this.")
    image_inputs: bool = Field(
        description="Whether jobs may start from an image (init_image, strength) and "
        "inpaint (mask)."
    )
    tiling: bool = Field(description="Whether jobs may ask for seamless (tiling) pictures.")
    controlnet: bool = Field(description="Whether jobs may carry ControlNet units.")
    inpaint_only: bool = Field(
        description="A dedicated inpainting model: every job needs an init_image and a mask."
    )
    latent_upscale: bool = Field(description="Whether the hires fix may upscale latents.")


class ModelOut(BaseModel):
    id: str
    source: str
    pipeline_class: str | None
    size_bytes: int
    native_size: int
    default: bool
    deletable: bool = Field(description="False for embedded models and the default model.")
    samplers: list[str] = Field(description="Names of the samplers that apply to this model.")
    capabilities: CapabilitiesOut | None = Field(
        description="None: a pipeline of a family this server cannot run."
    )
    loaded_on: list[str] = Field(
        default_factory=list, description="Diffusion replicas holding it in memory now."
    )
    memory: MemoryPlan = Field(
        default_factory=MemoryPlan,
        description="How replicas hold its weights (`model_memory` in the configuration).",
    )


class ModelList(BaseModel):
    models: list[ModelOut]


class ControlNetOut(BaseModel):
    id: str
    source: str = Field(description="embedded or local.")
    family: str = Field(description="The family of the models it guides (sd or sdxl).")
    size_bytes: int


class ControlNetList(BaseModel):
    controlnets: list[ControlNetOut]


class PreprocessorOut(BaseModel):
    name: str
    description: str
    options: dict = Field(description="JSON Schema of its options (besides `name`).")


class PreprocessorList(BaseModel):
    preprocessors: list[PreprocessorOut]


class SamplerOut(BaseModel):
    name: str
    label: str


class SamplerList(BaseModel):
    samplers: list[SamplerOut]


class Limits(BaseModel):
    min_size: int = 64
    max_size: int = 2048
    max_steps: int = 150
    max_batch_size: int = 8


class ServerConfig(BaseModel):
    version: str
    default_model: str
    auth_required: bool
    limits: Limits


class Health(BaseModel):
    status: str
    version: str


class DownloadEvent(EventFields):
    """A Model Hub download's progress; sent to subscribers of every job (no `jobs`)."""

    type: Literal["download"]
    download: Download


StreamEvent = Annotated[
    JobStateEvent | ProgressEvent | PreviewEvent | DownloadEvent, Field(discriminator="type")
]
"""One message of `WS /api/v1/ws`."""
