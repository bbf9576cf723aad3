"""`GET /api/v1/cluster` (nodes, GPUs, deployments, queue depth) and the seed's
`GET /gpu/status` (every GPU of the cluster in one list), both from one cached view."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from novagenia.api.deps import Context, require_read_access
from novagenia.monitoring import ClusterMonitor, ClusterState, GpuStatus, gpu_status

router = APIRouter(tags=["cluster"])
# At the root, outside /api/v1: it takes the same read check the API router applies.
root_router = APIRouter(tags=["cluster"], dependencies=[Depends(require_read_access)])


def get_monitor(request: Request, context: Context) -> ClusterMonitor:
    """One monitor per ingress replica, made on first use (its probes are actors)."""
    state = request.app.state
    if getattr(state, "cluster_monitor", None) is None:
        state.cluster_monitor = ClusterMonitor(
            context.args.app_name, context.board, context.args.dashboard_url
        )
    return state.cluster_monitor


Monitor = Annotated[ClusterMonitor, Depends(get_monitor)]


@router.get("/cluster", response_model=ClusterState)
async def cluster(monitor: Monitor) -> ClusterState:
    return await monitor.state()


@root_router.get("/gpu/status", response_model=GpuStatus)
async def gpus(monitor: Monitor) -> GpuStatus:
    return gpu_status(await monitor.state())
