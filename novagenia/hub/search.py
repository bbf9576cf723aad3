"""Searching the Hub for text-to-image diffusers pipelines."""

from __future__ import annotations

import asyncio
from typing import Any

from huggingface_hub import constants

from novagenia.hub.errors import HubUnavailable, hub_errors
from novagenia.hub.protocol import HubModel, HubSearch, HubSort
from novagenia.hub.settings import HubSettings

SEARCH_TIMEOUT_S = 5.0
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
