"""The Model Hub's requests and answers (pydantic): search results, a download request,
and a download's state as the API and the download events show it."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

HubSort = Literal["downloads", "likes", "trending_score", "last_modified", "created_at"]


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
