"""`WS /ws`: job events, resumable by cursor (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status
from pydantic import TypeAdapter

from novagenia.api.deps import get_context, key_matches
from novagenia.api.schemas import StreamEvent

router = APIRouter(tags=["events"])

EVENT_SCHEMA = TypeAdapter(StreamEvent).json_schema()

MAX_JOBS_PER_SOCKET = 1000
AUTH_TIMEOUT_S = 5.0


@router.websocket("/ws")
async def job_events(websocket: WebSocket) -> None:
    """Sends the requested jobs' events (all jobs' without `jobs`). A new subscriber first
    gets each job's current state (`snapshot: true`); one that passes its last `cursor`
    gets the events it missed instead."""
    context = get_context(websocket)
    params = websocket.query_params
    try:
        job_ids = _parse_jobs(params.get("jobs"))
        cursor = int(params["cursor"]) if params.get("cursor") else None
    except ValueError as exc:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=str(exc))
        return
    await websocket.accept()
    if context.args.auth_reads and not await _authenticated(websocket, context):
        await websocket.close(
            code=status.WS_1008_POLICY_VIOLATION, reason="missing or invalid API key"
        )
        return
    subscription = await context.fanout.subscribe(job_ids)
    reader = asyncio.get_running_loop().create_task(_drain_incoming(websocket))
    try:
        last = cursor or 0
        for event in await context.board.events_after.remote(cursor, job_ids):
            await websocket.send_text(json.dumps(event))
            last = max(last, event["cursor"])
        while not reader.done():
            getter = asyncio.ensure_future(subscription.queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            event = getter.result()
            if subscription.overflowed:
                await websocket.close(
                    code=status.WS_1013_TRY_AGAIN_LATER, reason="reconnect with your cursor"
                )
                break
            if event["cursor"] > last:
                await websocket.send_text(json.dumps(event))
                last = event["cursor"]
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        reader.cancel()
        context.fanout.unsubscribe(subscription)


@router.get("/events/schema")
async def event_schema() -> dict:
    """The JSON schema of every message `WS /ws` sends (`StreamEvent`, discriminated by
    `type`); the same models are in the OpenAPI document's components."""
    return EVENT_SCHEMA


async def _authenticated(websocket: WebSocket, context) -> bool:
    """The key comes as `?api_key=` or, to keep it out of URLs and logs, as the first
    message `{"api_key": "…"}` within a few seconds."""
    presented = websocket.query_params.get("api_key")
    if presented is None:
        try:
            message = await asyncio.wait_for(websocket.receive_json(), AUTH_TIMEOUT_S)
            presented = message.get("api_key") if isinstance(message, dict) else None
        except (asyncio.TimeoutError, ValueError, WebSocketDisconnect, KeyError):
            return False
    return key_matches(context.args, presented)


async def _drain_incoming(websocket: WebSocket) -> None:
    """Returns when the client goes away (clients send nothing we need)."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
    except (WebSocketDisconnect, RuntimeError):
        return


def _parse_jobs(raw: str | None) -> frozenset[str] | None:
    if not raw:
        return None
    ids = frozenset(part.strip() for part in raw.split(",") if part.strip())
    if len(ids) > MAX_JOBS_PER_SOCKET:
        raise ValueError(f"at most {MAX_JOBS_PER_SOCKET} jobs per socket")
    return ids
