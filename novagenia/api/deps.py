"""What routes depend on: the per-replica context and the API-key check."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from novagenia.api.events import EventHub
from novagenia.config import AppArgs
from novagenia.loras import LoraLibrary
from novagenia.models import ModelRegistry
from novagenia.outputs import OutputStore


@dataclass
class AppContext:
    """Everything one ingress replica shares between requests (no job state)."""

    args: AppArgs
    board: Any  # the JobBoard actor handle
    registry: ModelRegistry
    store: OutputStore
    hub: EventHub
    downloader: Any  # the Model Hub's HubDownloader actor handle
    loras: LoraLibrary


def get_context(request: Request) -> AppContext:
    return request.app.state.context


Context = Annotated[AppContext, Depends(get_context)]


def key_matches(args: AppArgs, presented: str | None) -> bool:
    if not args.api_keys:
        return True
    return presented is not None and any(
        secrets.compare_digest(presented.encode(), key.encode()) for key in args.api_keys
    )


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_key(request: Request, context: Context) -> str | None:
    """401 unless the configured API key is presented; returns a label for the caller
    (used as the fairness `user` when a job names none)."""
    token = bearer_token(request)
    if not key_matches(context.args, token):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return None if token is None else "key-" + hashlib.sha256(token.encode()).hexdigest()[:8]


Caller = Annotated[str | None, Depends(require_key)]
