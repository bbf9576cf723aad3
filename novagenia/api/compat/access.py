"""The API-key check for compat clients: the same keys as `/api/v1`, presented the way
those clients can present them. OpenAI clients send `Authorization: Bearer <key>`; A1111
clients send HTTP Basic credentials (`--api-auth user:password`, webuiapi's
`set_auth`), whose password is taken as the key."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request

from novagenia.api.deps import Context, authenticate, bearer_token


def basic_password(request: Request) -> str | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, _, password = decoded.partition(":")
    return password or None


def require_compat_key(request: Request, context: Context) -> str | None:
    """401 unless a configured key is presented; returns the caller's fairness label."""
    token = bearer_token(request) or basic_password(request)
    return authenticate(context.args, token, 'Basic realm="NovaGenIA", Bearer')


def require_compat_reader(request: Request, context: Context) -> None:
    """Reads need the key too when the server is configured with `auth_reads`."""
    if context.args.auth_reads:
        require_compat_key(request, context)


CompatCaller = Annotated[str | None, Depends(require_compat_key)]
CompatReader = Annotated[None, Depends(require_compat_reader)]
