"""Ctrl-C on `serve run serve_config.yaml` stops everything it started, promptly, even
with a job running, and leaves no process behind (no Ray agents, no replicas)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.served import free_port

REPO = Path(__file__).resolve().parents[2]
SERVE = Path(sys.executable).with_name("serve")
STOP_WITHIN_S = 30  # the running job alone would take minutes; Serve's default grace is 20 s


def group_processes(pgid: int) -> list[str]:
    table = subprocess.run(["ps", "-eo", "pgid=,args="], capture_output=True, text=True).stdout
    return [line.strip() for line in table.splitlines() if line.split(None, 1)[0] == str(pgid)]


@pytest.mark.serve
def test_ctrl_c_stops_everything_within_seconds_with_a_job_running(tmp_path):
    config = yaml.safe_load((REPO / "serve_config.yaml").read_text())
    port = free_port()
    config["http_options"]["port"] = port
    config["applications"][0]["args"]["data_dir"] = str(tmp_path / "data")
    (tmp_path / "serve.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": "local"}
    with (tmp_path / "serve.log").open("w") as log:
        # A terminal's foreground job: its own process group, SIGINT at its default action
        process = subprocess.Popen(
            [str(SERVE), "run", str(tmp_path / "serve.yaml")],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        job = httpx.post(
            f"{base}/jobs",
            json={"prompt": "a red circle", "steps": 150, "width": 1024, "height": 1024},
        ).json()
        while httpx.get(f"{base}/jobs/{job['id']}").json()["status"] != "running":
            time.sleep(0.2)
        assert any("DashboardAgent" in p for p in group_processes(process.pid))

        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        process.wait(timeout=STOP_WITHIN_S)
        deadline = time.monotonic() + 10
        while group_processes(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert group_processes(process.pid) == []
    finally:
        if process.poll() is None or group_processes(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
            print((tmp_path / "serve.log").read_text()[-3000:])
