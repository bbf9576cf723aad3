"""Domain errors → FastAPI's `{"detail": …}` with the right status, in one place for every
router (docs/architecture.md); the OpenAI routes reshape them into OpenAI's error body."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from novagenia.hub.errors import HubError
from novagenia.jobs.board import JobNotFound, JobStateConflict, QueueFull
from novagenia.jobs.quotas import QuotaExceeded
from novagenia.loras.describe import InvalidLora
from novagenia.loras.library import LoraExists, LoraNotFound
from novagenia.models import ModelNotFound
from novagenia.outputs import DiskFull
from novagenia.paths import UnsafeName
from novagenia.submission import InvalidInput

RETRY_AFTER_S = 5


# Domain error → (HTTP status, its `detail` from the domain message).
PLAIN_ERRORS: dict[type[Exception], tuple[int, Callable[[str], str]]] = {
    JobNotFound: (404, lambda job: f"no job with id {job}"),
    JobStateConflict: (409, str),
    ModelNotFound: (404, lambda model: f"no installed model {model!r}"),
    LoraNotFound: (404, lambda name: f"no LoRA named {name!r}"),
    LoraExists: (409, lambda name: f"LoRA {name!r} exists; pass ?overwrite=true to replace it"),
    UnsafeName: (404, str),
    DiskFull: (507, str),
}


def install_error_handlers(app: FastAPI) -> None:
    # Ray re-raises an actor's exception as a subclass of both RayTaskError and the
    # original class, so these handlers match errors raised inside the JobBoard too.
    for error, (status_code, detail) in PLAIN_ERRORS.items():
        app.add_exception_handler(error, _plain_handler(status_code, detail))

    @app.exception_handler(QueueFull)
    async def _full(_: Request, exc: QueueFull) -> JSONResponse:
        return JSONResponse(
            {"detail": f"{_first_arg(exc)}; retry later"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    @app.exception_handler(QuotaExceeded)
    async def _quota(_: Request, exc: QuotaExceeded) -> JSONResponse:
        return JSONResponse(
            {"detail": _first_arg(exc)},
            status_code=429,
            headers={"Retry-After": str(domain_error(exc).retry_after_s)},
        )

    @app.exception_handler(HubError)
    async def _hub(_: Request, exc: HubError) -> JSONResponse:
        status_code = type(domain_error(exc)).status_code
        return JSONResponse({"detail": _first_arg(exc)}, status_code=status_code)

    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse({"detail": exc.errors()}, status_code=422)

    @app.exception_handler(InvalidLora)
    async def _bad_lora(_: Request, exc: InvalidLora) -> JSONResponse:
        return JSONResponse({"detail": InvalidInput("file", str(exc)).errors()}, status_code=422)


def _plain_handler(status_code: int, detail: Callable[[str], str]):
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": detail(_first_arg(exc))}, status_code=status_code)

    return handle


def domain_error(exc: Exception) -> Exception:
    """The domain error itself: Ray wraps an actor's exception (keeping its class)."""
    return getattr(exc, "cause", None) or exc


def _first_arg(exc: Exception) -> str:
    """The domain message, without Ray's traceback wrapper around it."""
    cause = domain_error(exc)
    return str(cause.args[0]) if cause.args else type(cause).__name__
