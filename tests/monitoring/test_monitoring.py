"""Turning what Ray, Serve, NVML and the board report into the cluster view, without a
cluster (the live view is checked on a real two-node cluster in
tests/integration/test_multinode.py)."""

from __future__ import annotations

import pynvml
import pytest

from novagenia.jobs.board import JobBoard
from novagenia.jobs.protocol import ProgressReport
from novagenia.jobs.schemas import GenerationRequest, ImageInfo
from novagenia.jobs.store import JobStore
from novagenia.monitoring import (
    ClusterState,
    GpuInfo,
    finished_jobs,
    gpu_status,
    parse_deployments,
    parse_nodes,
    read_local_gpus,
)

GIB = 1 << 30
HEAD, WORKER, DEAD = "a1" * 28, "b2" * 28, "c3" * 28


def ray_node(node_id: str, address: str, alive: bool = True, head: bool = False, **resources):
    """An entry as `ray.nodes()` returns it (the keys this module reads, and others)."""
    total = {"CPU": 8.0, "memory": 32.0 * GIB, "object_store_memory": GIB, **resources}
    total[f"node:{address}"] = 1.0
    if head:
        total["node:__internal_head__"] = 1.0
    return {
        "NodeID": node_id,
        "Alive": alive,
        "NodeManagerAddress": address,
        "NodeManagerPort": 40000,
        "Resources": total,
        "Labels": {},
    }


def nvidia_driver_present() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


def test_local_gpus_are_an_empty_list_without_nvidia():
    gpus = read_local_gpus()
    if nvidia_driver_present():
        assert gpus and all(g.memory_total >= g.memory_used >= 0 for g in gpus)
    else:
        assert gpus == []


def test_nodes_head_first_with_used_resources_and_gpus():
    gpu = GpuInfo(index=0, name="NVIDIA L4", memory_used=GIB, memory_total=24 * GIB)
    nodes = parse_nodes(
        [
            ray_node(DEAD, "10.0.0.9", alive=False, GPU=1.0),
            ray_node(WORKER, "10.0.0.2", GPU=2.0),
            ray_node(HEAD, "10.0.0.1", head=True),
        ],
        available={
            HEAD: {"CPU": 6.0, "memory": 32.0 * GIB},
            WORKER: {"CPU": 7.0, "GPU": 0.5, "memory": 30.0 * GIB},
        },
        gpus={WORKER: [gpu, gpu.model_copy(update={"index": 1})]},
    )
    assert [n.id for n in nodes] == [HEAD, WORKER, DEAD]
    head, worker, dead = nodes
    assert head.is_head and not worker.is_head
    assert head.resources_total == {"CPU": 8.0, "GPU": 0.0, "memory": 32.0 * GIB}
    assert head.resources_used == {"CPU": 2.0, "GPU": 0.0, "memory": 0.0}
    assert worker.resources_used == {"CPU": 1.0, "GPU": 1.5, "memory": 2.0 * GIB}
    assert [g.index for g in worker.gpus] == [0, 1] and head.gpus == []
    assert not dead.alive and dead.resources_used == {"CPU": 0.0, "GPU": 0.0, "memory": 0.0}


def test_a_node_missing_from_available_counts_as_idle():
    (node,) = parse_nodes([ray_node(HEAD, "10.0.0.1", head=True)], available={}, gpus={})
    assert node.resources_used == {"CPU": 0.0, "GPU": 0.0, "memory": 0.0}


def serve_details(app: str) -> dict:
    """The shape of Serve's instance details (`ServeInstanceDetails`), trimmed."""

    def replica(rid: str, node: str, state: str) -> dict:
        return {"replica_id": rid, "node_id": node, "state": state, "actor_name": "x"}

    return {
        "controller_info": {"node_id": HEAD},
        "applications": {
            app: {
                "status": "RUNNING",
                "deployments": {
                    "Ingress": {
                        "status": "HEALTHY",
                        "target_num_replicas": 1,
                        "replicas": [replica("i1", HEAD, "RUNNING")],
                    },
                    "Diffusion": {
                        "status": "UPSCALING",
                        "target_num_replicas": 4,
                        "replicas": [
                            replica("d1", HEAD, "RUNNING"),
                            replica("d2", WORKER, "RUNNING"),
                            replica("d3", WORKER, "STARTING"),
                        ],
                    },
                },
            },
            "other": {"deployments": {"Else": {"status": "HEALTHY", "replicas": []}}},
        },
    }


def test_deployments_of_this_app_with_target_and_running_replicas():
    diffusion, ingress = parse_deployments(serve_details("novagenia"), "novagenia")
    assert (diffusion.name, diffusion.status) == ("Diffusion", "UPSCALING")
    assert (diffusion.target_replicas, diffusion.running_replicas) == (4, 2)
    assert [(r.id, r.node_id, r.state) for r in diffusion.replicas] == [
        ("d1", HEAD, "RUNNING"),
        ("d2", WORKER, "RUNNING"),
        ("d3", WORKER, "STARTING"),
    ]
    assert (ingress.name, ingress.running_replicas) == ("Ingress", 1)


def test_no_deployments_before_the_app_is_deployed():
    assert parse_deployments(serve_details("novagenia"), "missing") == []
    assert parse_deployments({"applications": {}}, "novagenia") == []


def request(model: str) -> GenerationRequest:
    return GenerationRequest(prompt="p", model=model, seed=1, width=64, height=64)


@pytest.fixture
def board(tmp_path):
    return JobBoard(JobStore(tmp_path / "jobs.sqlite3"), max_queue_length=100, max_attempts=1)


def test_queue_depth_per_model_from_the_board(board):
    for job_id, model in (("a", "x"), ("b", "x"), ("c", "y")):
        board.submit(job_id, request(model), None)
    board.claim("y", "w")
    assert board.queue_depths() == {"x": 2, "y": 0}


def test_finished_jobs_by_outcome_from_board_events(board):
    cursor = board.events.last_cursor
    for job_id in "abc":
        board.submit(job_id, request("x"), None)
    a, b = (job.id for job in board.claim("x", "w") + board.claim("x", "w"))
    board.report("w", [ProgressReport(job_ids=[a], ts=0, step=1, total_steps=2, elapsed_s=0.1)])
    board.succeed(a, "w", [ImageInfo(index=0, url="/u", seed=1, width=64, height=64)])
    board.fail(b, "w", "boom")
    board.cancel("c")
    events = board.events.after(cursor)
    assert finished_jobs(events) == [("x", "succeeded"), ("x", "failed"), ("x", "cancelled")]
    assert finished_jobs(board.snapshot(None)) == []


def test_gpu_status_lists_every_gpu_with_its_node():
    gpu = GpuInfo(index=0, name="NVIDIA A10G", memory_used=0, memory_total=24 * GIB)
    nodes = parse_nodes(
        [ray_node(HEAD, "10.0.0.1", head=True), ray_node(WORKER, "10.0.0.2", GPU=1.0)],
        available={},
        gpus={WORKER: [gpu]},
    )
    state = ClusterState(nodes=nodes, deployments=[], queue={}, dashboard_url=None)
    status = gpu_status(state).model_dump()
    assert status == {
        "gpus": [
            {
                "node_id": WORKER,
                "node_address": "10.0.0.2",
                "index": 0,
                "name": "NVIDIA A10G",
                "memory_used": 0,
                "memory_total": 24 * GIB,
                "utilization": None,
                "temperature": None,
                "power_w": None,
            }
        ]
    }
