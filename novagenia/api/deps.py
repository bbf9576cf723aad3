"""What routes depend on: the per-replica context and the API-key check."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, status
from starlette.requests import HTTPConnection

from novagenia.api.fanout import EventFanout
from novagenia.config import AppArgs
from novagenia.hub.downloader import DownloaderHandle
from novagenia.inputs import InputStore
from novagenia.loras.library import LoraLibrary
from novagenia.models import ModelRegistry
from novagenia.outputs import OutputStore


@dataclass
class AppContext:
    """Everything one ingress replica shares between requests (no job state)."""

    args: AppArgs
    board: Any  # the JobBoard actor handle
    registry: ModelRegistry
    store: OutputStore
    fanout: EventFanout
    downloader: DownloaderHandle  # the Model Hub's downloads (an actor, started on demand)
    loras: LoraLibrary
    inputs: InputStore


def get_context(connection: HTTPConnection) -> AppContext:
    return connection.app.state.context


Context = Annotated[AppContext, Depends(get_context)]


def key_matches(args: AppArgs, presented: str | None) -> bool:
    if not args.api_keys:
        return True
    return presented is not None and any(
        secrets.compare_digest(presented.encode(), key.encode()) for key in args.api_keys
    )


def bearer_token(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate(args: AppArgs, token: str | None, challenge: str = "Bearer") -> str | None:
    """401 unless a configured key is presented (always passes without keys); returns a
    label for the caller, used as the fairness `user` when a job names none."""
    if not key_matches(args, token):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid API key",
            headers={"WWW-Authenticate": challenge},
        )
    return None if token is None else "key-" + hashlib.sha256(token.encode()).hexdigest()[:8]


def require_key(connection: HTTPConnection, context: Context) -> str | None:
    return authenticate(context.args, bearer_token(connection))


Caller = Annotated[str | None, Depends(require_key)]


def require_read_access(connection: HTTPConnection, context: Context) -> None:
    """Reads are open unless `auth_reads` is configured. (WebSockets authenticate in
    their route, where a key may also arrive as the first message.)"""
    if context.args.auth_reads and connection.scope["type"] == "http":
        require_key(connection, context)
