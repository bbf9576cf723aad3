"""The cluster configs in cluster/ stay deployable: they parse, point at files that exist
in this repository, import the app by its real path, and their Serve args are valid
AppArgs (the application validates them the same way when it starts)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml

from novagenia.config import AppArgs

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
IMPORT_PATH = "novagenia.app:build_app"
LAUNCHER = {"aws.yaml": ("s3://", "s3fs"), "gcp.yaml": ("gs://", "gcsfs")}


def load(name: str) -> Any:
    return yaml.safe_load((CLUSTER / name).read_text())


def check_serve_config(config: dict[str, Any]) -> AppArgs:
    """The one application: the real builder, args that AppArgs accepts, GPUs stated."""
    (app,) = config["applications"]
    assert app["import_path"] == IMPORT_PATH
    module, _, attribute = IMPORT_PATH.partition(":")
    assert (ROOT / Path(*module.split("."))).with_suffix(".py").is_file()
    assert f"def {attribute}(" in (ROOT / "novagenia" / "app.py").read_text()
    args = AppArgs.model_validate(app["args"])
    # GPU nodes join only when replicas ask for them: `auto` would see none and pick the CPU.
    assert isinstance(args.gpus_per_replica, float) and args.gpus_per_replica > 0
    assert args.autoscaling.max_replicas > args.autoscaling.min_replicas
    assert args.autoscaling.downscale_delay_s >= 300
    return args


def repo_path(remote: str) -> Path:
    """A path under the nodes' `~/novagenia` as the file it is in this checkout."""
    assert remote.startswith("~/novagenia/"), remote
    return ROOT / remote.removeprefix("~/novagenia/")


def test_repository_serve_config_uses_the_builder():
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    (app,) = config["applications"]
    assert app["import_path"] == IMPORT_PATH
    AppArgs.model_validate(app["args"])


@pytest.mark.parametrize("name", sorted(LAUNCHER))
def test_launcher_config_installs_starts_and_deploys(name):
    scheme, filesystem = LAUNCHER[name]
    config = load(name)
    assert config["file_mounts"] == {"~/novagenia": "."}  # the repository root
    assert (ROOT / "pyproject.toml").is_file() and (ROOT / "novagenia").is_dir()
    setup = " ".join(config["setup_commands"])
    assert f"pip install -q torch -e ~/novagenia {filesystem}" in setup

    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert "min_workers" not in head
    workers = {n: t for n, t in types.items() if n != config["head_node_type"]}
    assert workers and all(n.startswith("gpu_") for n in workers)
    for node_type in workers.values():
        assert 0 == node_type["min_workers"] < node_type["max_workers"] <= config["max_workers"]

    head_start = config["head_start_ray_commands"]
    assert any(c.startswith("ray start --head --port=6379") for c in head_start)
    assert any("--dashboard-host=0.0.0.0" in c for c in head_start)
    assert any(
        c.startswith("ray start --address=$RAY_HEAD_IP:6379")
        for c in config["worker_start_ray_commands"]
    )
    (deployed,) = [m for c in head_start for m in re.findall(r"serve deploy (\S+)", c)]
    serve_file = repo_path(deployed)
    assert serve_file.is_file()
    args = check_serve_config(yaml.safe_load(serve_file.read_text()))
    assert args.output_uri is not None and args.output_uri.startswith(scheme)
    assert args.autoscaling.max_replicas <= config["max_workers"]


def test_rayservice_runs_the_app_on_gpu_workers():
    documents = list(yaml.safe_load_all((CLUSTER / "kuberay-rayservice.yaml").read_text()))
    (claim,) = [d for d in documents if d["kind"] == "PersistentVolumeClaim"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    (service,) = [d for d in documents if d["kind"] == "RayService"]
    assert service["apiVersion"] == "ray.io/v1"
    spec = service["spec"]
    args = check_serve_config(yaml.safe_load(spec["serveConfigV2"]))

    cluster = spec["rayClusterConfig"]
    assert cluster["rayVersion"] == ray.__version__
    assert cluster["enableInTreeAutoscaling"] is True
    (group,) = cluster["workerGroupSpecs"]
    (container,) = group["template"]["spec"]["containers"]
    gpus = int(container["resources"]["limits"]["nvidia.com/gpu"])
    assert gpus >= 1 and args.gpus_per_replica <= gpus
    capacity = group["maxReplicas"] * gpus / args.gpus_per_replica
    assert args.autoscaling.max_replicas <= capacity
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert str(args.data_dir) in mounts  # models, LoRAs and outputs shared by every pod


def test_dockerfile_matches_the_ray_version():
    text = (CLUSTER / "Dockerfile").read_text()
    assert f"FROM rayproject/ray:{ray.__version__}-" in text
    assert "pip install --no-cache-dir torch -e /home/ray/novagenia" in text


def test_local_multinode_script_is_valid_bash_with_usage():
    script = CLUSTER / "local-multinode.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    usage = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert usage.returncode == 2
    for command in ("start", "deploy", "status", "stop"):
        assert f"local-multinode.sh {command}" in usage.stdout
