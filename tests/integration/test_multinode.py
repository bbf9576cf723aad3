"""NovaGenIA on a real two-node Ray cluster, both nodes started on this machine with
`ray start` (a head and a worker, each declaring 2 CPUs and 1 *logical* GPU).

There is no CUDA here: Diffusion replicas declare `num_gpus=0.5` to Ray, which places
them by that logical capacity (2 GPUs / 0.5 = at most 4 replicas, 2 per node), and then
run on the CPU (`engine/device.py`). Both nodes share this machine's filesystem, so the
data dir (models, outputs) is shared storage, as an NFS mount or an `s3://` `output_uri`
would be on a real cluster.

The nodes run in their own sessions with a private `--temp-dir`; teardown kills exactly
those process groups (never `ray stop`, which would end every Ray on the machine).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray

from tests.served import TINY, ServedApp, free_port, served_app

pytestmark = pytest.mark.serve

RAY = str(Path(sys.executable).with_name("ray"))
APP = "novagenia-multinode"
MAX_REPLICAS = 4


@dataclass
class LocalNode:
    process: subprocess.Popen
    metrics_port: int  # its Prometheus endpoint


@dataclass
class LocalCluster:
    address: str
    nodes: dict[str, LocalNode]


def start_node(temp_dir: Path, name: str, *args: str) -> LocalNode:
    """`ray start --block` in its own session, so its whole process tree (GCS, raylet,
    workers) is one process group we can end. Ports Ray would otherwise fix (agent,
    client server) are free ones, so nodes and other clusters here never collide."""
    command = [
        RAY,
        "start",
        "--block",
        "--num-cpus=2",
        "--num-gpus=1",
        f"--resources={json.dumps({name: 1})}",
        f"--temp-dir={temp_dir}",
        "--object-store-memory=100000000",
        "--disable-usage-stats",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        f"--metrics-export-port={(metrics_port := free_port())}",
        *args,
    ]
    log = (temp_dir / f"{name}.log").open("wb")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    return LocalNode(process, metrics_port)


def stop_nodes(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to each node's process group, SIGKILL to what is left after a grace."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for process in reversed(processes):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_group_alive(p.pid) for p in processes):
            time.sleep(0.2)
    for process in processes:
        process.wait(timeout=10)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until_started(temp_dir: Path, name: str, timeout: float = 180) -> None:
    """`ray start` prints this once the node's GCS (head) and raylet are up."""
    log = temp_dir / f"{name}.log"
    deadline = time.monotonic() + timeout
    while "Ray runtime started." not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
        time.sleep(0.5)


def wait_for_nodes(count: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while sum(node["Alive"] for node in ray.nodes()) < count:
        assert time.monotonic() < deadline, f"fewer than {count} nodes joined"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    # Short: Ray's unix socket paths live under it.
    temp_dir = Path(tempfile.mkdtemp(prefix="ng-mn-", dir="/tmp"))
    port = free_port()
    nodes: dict[str, LocalNode] = {}
    try:
        nodes["head"] = start_node(
            temp_dir,
            "head",
            "--head",
            f"--port={port}",
            "--include-dashboard=false",
            f"--ray-client-server-port={free_port()}",
        )
        address = f"127.0.0.1:{port}"
        wait_until_started(temp_dir, "head")  # ray.init and the worker need its GCS
        ray.init(address=address, log_to_driver=False)
        nodes["worker"] = start_node(temp_dir, "worker", f"--address={address}")
        wait_for_nodes(2)
        yield LocalCluster(address, nodes)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        stop_nodes([node.process for node in nodes.values()])
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def app(cluster: LocalCluster, tmp_path_factory) -> Iterator[ServedApp]:
    # One proxy: both nodes are this machine, so a proxy per node would share the port.
    with served_app(
        tmp_path_factory.mktemp("shared-data"),
        proxy_location="HeadOnly",
        app_name=APP,
        gpus_per_replica=0.5,
        cpus_per_replica=0.5,
        preview_every_steps=0,
        autoscaling={
            "min_replicas": 1,
            "max_replicas": MAX_REPLICAS,
            "upscale_delay_s": 0.5,
            "downscale_delay_s": 2,
        },
    ) as served:
        yield served


def cluster_state(app: ServedApp) -> dict[str, Any]:
    response = app.http.get("/api/v1/cluster")
    assert response.status_code == 200, response.text
    return response.json()


def diffusion(state: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in state["deployments"] if d["name"] == "Diffusion")


def node_ids_by_name() -> dict[str, str]:
    return {
        name: node["NodeID"]
        for node in ray.nodes()
        if node["Alive"]
        for name in ("head", "worker")
        if name in node["Resources"]
    }


def test_cluster_lists_both_nodes_and_the_deployments(app: ServedApp) -> None:
    state = cluster_state(app)
    nodes = {node["id"]: node for node in state["nodes"]}
    names = node_ids_by_name()
    assert set(nodes) == set(names.values())
    head, worker = nodes[names["head"]], nodes[names["worker"]]
    assert head["is_head"] and not worker["is_head"]
    assert state["nodes"][0]["id"] == head["id"]
    for node in (head, worker):
        assert node["alive"]
        assert node["resources_total"]["GPU"] == 1 and node["resources_total"]["CPU"] == 2
        assert node["gpus"] == []  # no NVIDIA driver here: an empty list, not an error
    assert sum(node["resources_used"]["GPU"] for node in state["nodes"]) == 0.5
    by_name = {d["name"]: d for d in state["deployments"]}
    assert set(by_name) == {"Ingress", "Diffusion"}
    assert by_name["Diffusion"]["running_replicas"] == 1
    assert by_name["Diffusion"]["target_replicas"] == 1
    assert state["queue"] == {}
    assert app.http.get("/gpu/status").json() == {"gpus": []}


def test_burst_scales_out_across_both_nodes_and_back(app: ServedApp) -> None:
    names = node_ids_by_name()
    replica_node: dict[str, str] = {}
    jobs: list[str] = []

    def submit(count: int) -> None:
        for _ in range(count):
            jobs.append(app.submit(prompt="a burst", steps=20)["id"])

    def queued() -> int:  # the board's own count, not the cluster view's cached one
        models = app.http.get("/api/v1/queue").json()["models"]
        return models.get(TINY, {}).get("queued", 0)

    # Keep a backlog until the autoscaler has reached its maximum and every replica runs.
    deadline = time.monotonic() + 180  # four replicas start one by one on two cores
    while True:
        state = cluster_state(app)
        deployment = diffusion(state)
        for replica in deployment["replicas"]:
            replica_node[replica["id"]] = replica["node_id"]
        if deployment["running_replicas"] == MAX_REPLICAS:
            break
        assert time.monotonic() < deadline, deployment
        submit(max(0, 12 - queued()))
        time.sleep(0.5)

    # At the maximum: placed on both nodes, within each node's logical GPU (1 / 0.5 = 2).
    assert deployment["target_replicas"] == MAX_REPLICAS
    running = [r for r in deployment["replicas"] if r["state"] == "RUNNING"]
    per_node = {node: sum(r["node_id"] == node for r in running) for node in names.values()}
    assert per_node == {names["head"]: 2, names["worker"]: 2}
    for node in state["nodes"]:
        assert 0 < node["resources_used"]["GPU"] <= node["resources_total"]["GPU"]

    submit(12)  # work for every replica now that all of them run
    finished = [app.wait(job_id, timeout=120) for job_id in jobs]
    assert {job["status"] for job in finished} == {"succeeded"}
    makers = {replica_node[job["worker"]] for job in finished}
    assert makers == set(names.values()), "both nodes made images"
    for job in finished:  # through the one ingress, whichever node wrote the file
        assert app.image(job["images"][0]["url"]).size == (128, 128)

    # After the burst the autoscaler goes back to its minimum.
    deadline = time.monotonic() + 90
    while (deployment := diffusion(cluster_state(app)))["running_replicas"] > 1:
        assert time.monotonic() < deadline, deployment
        time.sleep(1)
    assert deployment["target_replicas"] == 1


def test_custom_metrics_reach_the_nodes_prometheus_endpoints(
    cluster: LocalCluster, app: ServedApp
) -> None:
    """The board (head) counts finished jobs by outcome and the queue depth; the replica
    that ran the job (either node) times its steps and counts its images."""
    assert app.wait(app.submit(prompt="metrics", steps=2)["id"])["status"] == "succeeded"

    def scrape(name: str) -> str:
        url = f"http://127.0.0.1:{cluster.nodes[name].metrics_port}/metrics"
        return httpx.get(url, timeout=10).text

    def has(text: str, metric: str, *labels: str) -> bool:
        return any(
            line.startswith(metric + "{") and all(label in line for label in labels)
            for line in text.splitlines()
        )

    model = f'model="{TINY}"'
    deadline = time.monotonic() + 60
    while True:
        head = scrape("head")
        both = head + scrape("worker")
        found = {
            "jobs": has(head, "ray_novagenia_jobs_total", model, 'outcome="succeeded"'),
            "queue": has(head, "ray_novagenia_queue_depth", model),
            "steps": has(both, "ray_novagenia_step_seconds_bucket", model, 'device="cpu"'),
            "images": has(both, "ray_novagenia_images_total", model),
        }
        if all(found.values()):
            break
        assert time.monotonic() < deadline, found
        time.sleep(1)
