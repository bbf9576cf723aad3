"""The Ingress deployment: the FastAPI app of `/api/v1`, the compat routes and the PWA.
It holds no job state, so any number of replicas can serve any request."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import TypeAdapter
from ray import serve
from ray.serve.handle import DeploymentHandle

from novagenia import __version__
from novagenia.api.compat import a1111, a1111_catalog, a1111_controlnet, openai_images
from novagenia.api.deps import AppContext, require_read_access
from novagenia.api.errors import install_error_handlers
from novagenia.api.fanout import EventFanout
from novagenia.api.limits import BodySizeLimit
from novagenia.api.routes import (
    cluster,
    controlnet,
    hub,
    images,
    inputs,
    jobs,
    loras,
    models,
    system,
    websocket,
)
from novagenia.api.schemas import StreamEvent
from novagenia.config import AppArgs
from novagenia.hub.downloader import DownloaderHandle
from novagenia.inputs import InputStore
from novagenia.jobs.actor import get_board
from novagenia.logs import configure_logging
from novagenia.loras.library import LoraLibrary
from novagenia.models import ModelRegistry
from novagenia.outputs import OutputStore
from novagenia.priority import lower_cpu_priority

logger = logging.getLogger("novagenia.ingress")

API_PREFIX = "/api/v1"


def create_api(context: AppContext) -> FastAPI:
    app = FastAPI(
        title="NovaGenIA",
        version=__version__,
        description="Text-to-image diffusion serving on Ray Serve. `WS /api/v1/ws` sends "
        "`StreamEvent` messages (in this document's schemas, and at `/api/v1/events/schema`).",
    )
    app.state.context = context
    install_error_handlers(app)
    if context.args.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=context.args.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(
        BodySizeLimit,
        limit=context.args.max_request_bytes,
        overrides={
            f"{API_PREFIX}/loras": loras.upload_limit_bytes(context.args),
            f"{API_PREFIX}/inputs": inputs.upload_limit_bytes(context.args),
            "/sdapi/v1/img2img": inputs.json_with_images_limit_bytes(context.args),
            "/v1/images/edits": inputs.upload_limit_bytes(context.args, files=2),
            "/v1/images/variations": inputs.upload_limit_bytes(context.args),
        },
    )
    app.include_router(system.health_router, prefix=API_PREFIX)
    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(require_read_access)])
    for module in (
        jobs,
        websocket,
        images,
        inputs,
        controlnet,
        system,
        models,
        hub,
        cluster,
        loras,
    ):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(cluster.root_router)  # the seed's /gpu/status, before the web app
    app.include_router(a1111_catalog.router)  # compat routes at the root, before the web app
    app.include_router(a1111_controlnet.router)
    app.include_router(a1111.router)  # last of them: its catch-all answers unknown routes
    app.include_router(openai_images.router)
    mount_web_app(app, context.args.web_dist)
    app.openapi = lambda: openapi_with_events(app)
    return app


def openapi_with_events(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the WebSocket's message models (OpenAPI has no words for
    a WebSocket), so generated clients get `StreamEvent` like every other type."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        events = TypeAdapter(StreamEvent).json_schema(ref_template="#/components/schemas/{model}")
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(events.pop("$defs", {}))
        schemas["StreamEvent"] = events
        app.openapi_schema = document
    return app.openapi_schema


def mount_web_app(app: FastAPI, dist: Path) -> None:
    """Serves the built PWA at `/`, with index.html for client-side routes."""
    index = dist / "index.html"
    root = dist.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def web_app(path: str):
        if path.startswith(API_PREFIX.strip("/")):
            raise HTTPException(404, "not found")
        if not index.is_file():
            return HTMLResponse(
                "<h1>NovaGenIA</h1><p>The web app is not built: run <code>make web</code>. "
                f'The API is at <a href="{API_PREFIX}/health">{API_PREFIX}</a>, '
                'docs at <a href="/docs">/docs</a>.</p>'
            )
        candidate = (dist / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(root):
            return FileResponse(candidate, headers=_cache_headers(path))
        return FileResponse(index, headers={"Cache-Control": "no-cache"})


def _cache_headers(path: str) -> dict[str, str]:
    """Hashed build assets are immutable; the service worker and manifest must revalidate."""
    if path.startswith("assets/"):
        return {"Cache-Control": "public, max-age=31536000, immutable"}
    return {"Cache-Control": "no-cache"}


@serve.ingress()
class Ingress:
    async def __init__(self, args: dict[str, Any], diffusion: DeploymentHandle) -> None:
        """`diffusion` is handed to the board, which sends it the tickets."""
        configure_logging()
        self.args = AppArgs.model_validate(args)
        lower_cpu_priority(self.args.bookkeeping_nice)
        board = get_board(self.args)
        await board.ready.remote(args, diffusion)
        self.context = AppContext(
            args=self.args,
            board=board,
            registry=ModelRegistry(self.args.models_dir, self.args.default_model),
            store=OutputStore(self.args.resolved_output_uri),
            fanout=EventFanout(board),
            downloader=DownloaderHandle(self.args),
            loras=LoraLibrary(self.args.loras_dir),
            inputs=InputStore(self.args.resolved_output_uri),
        )

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_api(self.context)
