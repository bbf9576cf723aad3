"""Domain errors → FastAPI's `{"detail": …}` with the right status, in one place for every
router (docs/architecture.md); the OpenAI routes reshape them into OpenAI's error body."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from novagenia.hub.errors import HubError
from novagenia.jobs.board import JobNotFound, JobStateConflict, QueueFull
from novagenia.loras.describe import InvalidLora
from novagenia.loras.library import LoraExists, LoraNotFound
from novagenia.models import ModelNotFound
from novagenia.paths import UnsafeName
from novagenia.submission import InvalidInput

RETRY_AFTER_S = 5


def install_error_handlers(app: FastAPI) -> None:
    # Ray re-raises an actor's exception as a subclass of both RayTaskError and the
    # original class, so these handlers match errors raised inside the JobBoard too.
    @app.exception_handler(JobNotFound)
    async def _not_found(_: Request, exc: JobNotFound) -> JSONResponse:
        return JSONResponse({"detail": f"no job with id {_first_arg(exc)}"}, status_code=404)

    @app.exception_handler(JobStateConflict)
    async def _conflict(_: Request, exc: JobStateConflict) -> JSONResponse:
        return JSONResponse({"detail": _first_arg(exc)}, status_code=409)

    @app.exception_handler(QueueFull)
    async def _full(_: Request, exc: QueueFull) -> JSONResponse:
        return JSONResponse(
            {"detail": f"{_first_arg(exc)}; retry later"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    @app.exception_handler(ModelNotFound)
    async def _no_model(_: Request, exc: ModelNotFound) -> JSONResponse:
        return JSONResponse({"detail": f"no installed model {_first_arg(exc)!r}"}, status_code=404)

    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse({"detail": exc.errors()}, status_code=422)

    @app.exception_handler(HubError)
    async def _hub(_: Request, exc: HubError) -> JSONResponse:
        cause = _cause(exc)
        return JSONResponse({"detail": _first_arg(exc)}, status_code=type(cause).status_code)

    @app.exception_handler(InvalidLora)
    async def _bad_lora(_: Request, exc: InvalidLora) -> JSONResponse:
        return JSONResponse({"detail": InvalidInput("file", str(exc)).errors()}, status_code=422)

    @app.exception_handler(LoraExists)
    async def _lora_exists(_: Request, exc: LoraExists) -> JSONResponse:
        return JSONResponse(
            {"detail": f"LoRA {_first_arg(exc)!r} exists; pass ?overwrite=true to replace it"},
            status_code=409,
        )

    @app.exception_handler(LoraNotFound)
    async def _no_lora(_: Request, exc: LoraNotFound) -> JSONResponse:
        return JSONResponse({"detail": f"no LoRA named {_first_arg(exc)!r}"}, status_code=404)

    @app.exception_handler(UnsafeName)
    async def _unsafe(_: Request, exc: UnsafeName) -> JSONResponse:
        return JSONResponse({"detail": _first_arg(exc)}, status_code=404)


def _cause(exc: Exception) -> Exception:
    """The domain error itself: Ray wraps an actor's exception (keeping its class)."""
    return getattr(exc, "cause", None) or exc


def _first_arg(exc: Exception) -> str:
    """The domain message, without Ray's traceback wrapper around it."""
    cause = _cause(exc)
    return str(cause.args[0]) if cause.args else type(cause).__name__
