"""Cluster monitoring: nodes, their GPUs, Serve deployments and the job queue, for
`GET /api/v1/cluster` and the web app's Cluster view; plus NovaGenIA's own Ray metrics,
which the Ray dashboard and its Prometheus endpoint show next to Ray's.

GPU figures come from NVML (`nvidia-ml-py`) read on the node that holds the GPU: one
tiny probe actor per node (no CPU reserved, pinned with node affinity), asked at most
once per cache period however often browsers refresh. A node without NVIDIA reports an
empty GPU list, never an error.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

import pynvml
import ray
from pydantic import BaseModel, Field
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

logger = logging.getLogger("novagenia.monitoring")

HEAD_RESOURCE = "node:__internal_head__"
REPORTED_RESOURCES = ("CPU", "GPU", "memory")
CACHE_S = 2.0
PROBE_TIMEOUT_S = 5.0
STEP_TIME_BOUNDARIES_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]
TERMINAL_EVENTS = ("succeeded", "failed", "cancelled", "expired")


class GpuInfo(BaseModel):
    """One GPU as NVML sees it on its node. Figures a GPU does not support are null."""

    index: int
    name: str
    memory_used: int = Field(description="Bytes.")
    memory_total: int = Field(description="Bytes.")
    utilization: int | None = Field(None, description="Percent of time a kernel ran.")
    temperature: int | None = Field(None, description="Degrees Celsius.")
    power_w: float | None = Field(None, description="Watts.")


class NodeInfo(BaseModel):
    id: str
    address: str
    alive: bool
    is_head: bool
    resources_total: dict[str, float] = Field(description="CPU, GPU (logical), memory (bytes).")
    resources_used: dict[str, float] = Field(description="Reserved by actors and tasks now.")
    gpus: list[GpuInfo]


class ReplicaInfo(BaseModel):
    id: str
    node_id: str | None
    state: str


class DeploymentInfo(BaseModel):
    name: str
    status: str
    target_replicas: int
    running_replicas: int
    replicas: list[ReplicaInfo]


class ClusterState(BaseModel):
    nodes: list[NodeInfo]
    deployments: list[DeploymentInfo]
    queue: dict[str, int] = Field(description="Queued jobs per model.")
    dashboard_url: str | None = Field(description="The Ray dashboard, when it runs.")


class NodeGpu(GpuInfo):
    node_id: str
    node_address: str


class GpuStatus(BaseModel):
    """The seed's `GET /gpu/status` shape: every GPU of the cluster in one list."""

    gpus: list[NodeGpu]


# ------------------------------------------------------------------ GPUs (NVML)


def read_local_gpus() -> list[GpuInfo]:
    """This node's GPUs; [] where there is no NVIDIA driver (or NVML fails)."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []
    try:
        return [_read_gpu(index) for index in range(pynvml.nvmlDeviceGetCount())]
    except pynvml.NVMLError as exc:
        logger.warning("NVML could not list GPUs: %s", exc)
        return []
    finally:
        pynvml.nvmlShutdown()


def _read_gpu(index: int) -> GpuInfo:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    name = pynvml.nvmlDeviceGetName(handle)
    power_mw = _optional(pynvml.nvmlDeviceGetPowerUsage, handle)
    utilization = _optional(pynvml.nvmlDeviceGetUtilizationRates, handle)
    return GpuInfo(
        index=index,
        name=name.decode() if isinstance(name, bytes) else name,
        memory_used=int(memory.used),
        memory_total=int(memory.total),
        utilization=None if utilization is None else int(utilization.gpu),
        temperature=_optional(pynvml.nvmlDeviceGetTemperature, handle, pynvml.NVML_TEMPERATURE_GPU),
        power_w=None if power_mw is None else round(power_mw / 1000, 1),
    )


def _optional(read, *args: Any) -> Any:
    """Some GPUs (MIG slices, older boards) do not support every query."""
    try:
        return read(*args)
    except pynvml.NVMLError:
        return None


class GpuProbe:
    """Reads NVML on the node it is pinned to (NVML sees every GPU of the node, whatever
    `CUDA_VISIBLE_DEVICES` says, so it reserves no GPU)."""

    def read(self) -> list[GpuInfo]:
        return read_local_gpus()


def start_probe(node_id: str) -> ray.actor.ActorHandle:
    return (
        ray.remote(GpuProbe)
        .options(
            num_cpus=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        )
        .remote()
    )


# ------------------------------------------------------------------ parsing


def parse_nodes(
    nodes: list[dict[str, Any]],
    available: dict[str, dict[str, float]],
    gpus: dict[str, list[GpuInfo]],
) -> list[NodeInfo]:
    """`ray.nodes()` entries (+ available resources and GPUs per node id) as NodeInfo,
    the head first, alive nodes before dead ones."""
    out = []
    for node in nodes:
        node_id = node["NodeID"]
        alive = bool(node.get("Alive"))
        total = node.get("Resources") or {}
        free = available.get(node_id, total if alive else {})
        out.append(
            NodeInfo(
                id=node_id,
                address=node.get("NodeManagerAddress", ""),
                alive=alive,
                is_head=HEAD_RESOURCE in total,
                resources_total={key: float(total.get(key, 0)) for key in REPORTED_RESOURCES},
                resources_used={
                    key: max(0.0, float(total.get(key, 0)) - float(free.get(key, 0)))
                    if alive
                    else 0.0
                    for key in REPORTED_RESOURCES
                },
                gpus=gpus.get(node_id, []),
            )
        )
    return sorted(out, key=lambda n: (not n.is_head, not n.alive, n.address, n.id))


def parse_deployments(details: dict[str, Any], app_name: str) -> list[DeploymentInfo]:
    """The app's deployments from Serve's instance details (the controller's view: the
    autoscaler's target and every replica with its node)."""
    app = (details.get("applications") or {}).get(app_name) or {}
    out = []
    for name, deployment in sorted((app.get("deployments") or {}).items()):
        replicas = [
            ReplicaInfo(id=r["replica_id"], node_id=r.get("node_id"), state=r["state"])
            for r in deployment.get("replicas") or []
        ]
        out.append(
            DeploymentInfo(
                name=name,
                status=deployment.get("status", "UNKNOWN"),
                target_replicas=int(deployment.get("target_num_replicas") or 0),
                running_replicas=sum(r.state == "RUNNING" for r in replicas),
                replicas=replicas,
            )
        )
    return out


def gpu_status(state: ClusterState) -> GpuStatus:
    return GpuStatus(
        gpus=[
            NodeGpu(node_id=node.id, node_address=node.address, **gpu.model_dump())
            for node in state.nodes
            for gpu in node.gpus
        ]
    )


# ------------------------------------------------------------------ the monitor


class ClusterMonitor:
    """One per ingress replica: gathers the cluster state at most once per `cache_s`
    (concurrent requests share one gathering) and keeps one GPU probe per node."""

    def __init__(
        self, app_name: str, board: Any, dashboard_url: str | None, cache_s: float = CACHE_S
    ) -> None:
        self._app_name = app_name
        self._board = board
        self._dashboard_url = dashboard_url
        self._cache_s = cache_s
        self._probes: dict[str, ray.actor.ActorHandle] = {}
        self._lock = asyncio.Lock()
        self._state: ClusterState | None = None
        self._taken = 0.0

    async def state(self) -> ClusterState:
        async with self._lock:
            if self._state is None or time.monotonic() - self._taken > self._cache_s:
                self._state = await self._gather()
                self._taken = time.monotonic()
            return self._state

    async def _gather(self) -> ClusterState:
        nodes, available, details, dashboard = await asyncio.to_thread(_read_ray)
        alive = [node["NodeID"] for node in nodes if node.get("Alive")]
        gpus, depths = await asyncio.gather(
            self._read_gpus(alive), self._board.queue_depths.remote()
        )
        return ClusterState(
            nodes=parse_nodes(nodes, available, gpus),
            deployments=parse_deployments(details, self._app_name),
            queue=depths,
            dashboard_url=self._dashboard_url or dashboard,
        )

    async def _read_gpus(self, node_ids: list[str]) -> dict[str, list[GpuInfo]]:
        for gone in set(self._probes) - set(node_ids):
            ray.kill(self._probes.pop(gone))
        for node_id in node_ids:
            if node_id not in self._probes:
                self._probes[node_id] = start_probe(node_id)
        readings = await asyncio.gather(*(self._read_node(node_id) for node_id in node_ids))
        return dict(zip(node_ids, readings, strict=True))

    async def _read_node(self, node_id: str) -> list[GpuInfo]:
        probe = self._probes[node_id]
        try:
            return await asyncio.wait_for(probe.read.remote(), PROBE_TIMEOUT_S)
        except asyncio.TimeoutError:
            # Still starting (a fresh worker process) or a busy node: next time.
            return []
        except ray.exceptions.RayError as exc:
            logger.warning("GPU probe on node %s failed: %s", node_id, exc)
            self._probes.pop(node_id, None)
            return []


def _read_ray() -> tuple[list[dict], dict[str, dict[str, float]], dict[str, Any], str | None]:
    """Blocking reads from the GCS and the Serve controller (run in a thread)."""
    # Per-node available resources and the dashboard address have no public API in
    # Ray 2.60; these are what `ray status` and `ray.init()` use.
    from ray._private.services import get_webui_url_from_internal_kv
    from ray._private.state import available_resources_per_node
    from ray.serve.context import _get_global_client

    nodes = ray.nodes()
    available = available_resources_per_node()
    details = _get_global_client().get_serve_details()
    webui = get_webui_url_from_internal_kv()
    dashboard = None if not webui else webui if "://" in webui else f"http://{webui}"
    return nodes, available, details, dashboard


# ------------------------------------------------------------------ Ray metrics


@functools.cache
def _metrics() -> dict[str, Any]:
    """Created on first use inside a Ray worker (metrics need a connected worker).
    Prometheus names get Ray's `ray_` prefix: `ray_novagenia_queue_depth`, …"""
    from ray.util import metrics

    return {
        "queue": metrics.Gauge(
            "novagenia_queue_depth", "Queued jobs per model.", tag_keys=("model",)
        ),
        "jobs": metrics.Counter(
            "novagenia_jobs_total", "Finished jobs by outcome.", tag_keys=("model", "outcome")
        ),
        "step": metrics.Histogram(
            "novagenia_step_seconds",
            "Mean denoising step time of a generation.",
            boundaries=STEP_TIME_BOUNDARIES_S,
            tag_keys=("model", "device"),
        ),
        "images": metrics.Counter(
            "novagenia_images_total", "Images generated.", tag_keys=("model", "device")
        ),
        "rate": metrics.Gauge(
            "novagenia_images_per_second",
            "Images per second of a replica's last generation.",
            tag_keys=("model", "device"),
        ),
    }


def record_generation(model: str, device: str, steps: int, seconds: float, images: int) -> None:
    """Called by a Diffusion replica after each generation that ran to the end."""
    tags = {"model": model, "device": device}
    metrics = _metrics()
    metrics["step"].observe(seconds / max(1, steps), tags)
    metrics["images"].inc(images, tags)
    metrics["rate"].set(images / seconds if seconds > 0 else 0.0, tags)


class BoardMetrics:
    """Publishes the board's queue depth per model and its finished jobs by outcome.
    Fed from the board's housekeeping loop (once a second) by reading the board's own
    queues and event log, so the board's request paths carry no metric code."""

    def __init__(self, board: Any) -> None:
        self._board = board
        self._cursor: int = board.events.last_cursor
        self._models: set[str] = set()

    def publish(self) -> None:
        metrics = _metrics()
        depths = self._board.queue_depths()
        # A model whose queue emptied must read 0, not its last value.
        for model in self._models | set(depths):
            metrics["queue"].set(depths.get(model, 0), {"model": model})
        self._models |= set(depths)
        events = self._board.events.after(self._cursor)
        if events:
            self._cursor = events[-1]["cursor"]
        for model, outcome in finished_jobs(events):
            metrics["jobs"].inc(1, {"model": model, "outcome": outcome})


def finished_jobs(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(model, outcome) for every job-finished event in `events`."""
    return [
        (event["job"]["model"], event["type"])
        for event in events
        if event["type"] in TERMINAL_EVENTS and not event.get("snapshot") and "job" in event
    ]
