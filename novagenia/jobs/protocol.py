"""The messages of a job's path between the parts (docs/architecture.md), as pydantic
models: what a Diffusion replica sends the board (claim, step reports, completion) and
what the board's event log sends every subscriber (the WebSocket's events). The event
models are the published schema of `WS /api/v1/ws` (`GET /api/v1/events/schema`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from novagenia.jobs.schemas import ImageInfo, Job

# ------------------------------------------------------------- replica → board


class ClaimRequest(BaseModel):
    """A replica asks for the best queued job(s) of a model: a batch of compatible jobs
    from the head of the run order, within both bounds."""

    model: str
    worker: str = Field(description="The replica's id; the jobs run under its lease.")
    ticket_id: str
    max_jobs: int = Field(1, ge=1)
    max_images: int | None = Field(None, ge=1)
    max_pixels: int | None = Field(
        None, ge=1, description="Most image pixels (width × height × images) in the batch."
    )


class ProgressReport(BaseModel):
    """One step of a batch: its jobs share step, time and ETA, so one report carries
    them all (a batch of 8 sends 1 message per step, not 8)."""

    type: Literal["progress"] = "progress"
    job_ids: list[str]
    ts: float = Field(description="When the step ended (Unix time), not when it was heard.")
    step: int = Field(ge=0, description="Steps done, 1-based.")
    total_steps: int
    elapsed_s: float
    eta_s: float | None = None


class PreviewReport(BaseModel):
    type: Literal["preview"] = "preview"
    job_id: str
    step: int
    image: str = Field(description="A small JPEG as a data URL.")


WorkerReport = Annotated[ProgressReport | PreviewReport, Field(discriminator="type")]


class Completion(BaseModel):
    """How a claimed job ended on its replica; the board ignores a stale worker's word."""

    job_id: str
    worker: str
    outcome: Literal["succeeded", "failed", "cancelled"]
    images: list[ImageInfo] = Field(default_factory=list)
    error: str | None = None


# ------------------------------------------------------------- board → subscribers


class EventFields(BaseModel):
    job_id: str = Field(description="The job; empty for events of no job (downloads).")
    cursor: int = Field(description="Increases with every event; reconnect with the last one.")
    ts: float = Field(description="Unix time.")


class JobStateEvent(EventFields):
    """The job entered a state; `job` is the whole job as `GET /jobs/{id}` returns it."""

    type: Literal["queued", "started", "succeeded", "failed", "cancelled", "expired"]
    job: Job
    snapshot: bool = Field(
        False, description="True for the current state sent first to a new subscriber."
    )


class ProgressEvent(EventFields):
    type: Literal["progress"]
    step: int
    total_steps: int
    elapsed_s: float
    eta_s: float | None = None


class PreviewEvent(EventFields):
    type: Literal["preview"]
    step: int
    image: str = Field(description="A small JPEG as a data URL.")


JobEvent = Annotated[JobStateEvent | ProgressEvent | PreviewEvent, Field(discriminator="type")]
