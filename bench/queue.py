"""The queue under 10,000 queued jobs: submit latency p50/p99 through HTTP and the
board's memory, while one long job holds the only replica.

    python -m bench.queue [--jobs 10000] [--clients 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import ray

from bench.common import job_request, percentile
from novagenia.detached import NAMESPACE
from tests.served import served_app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    options = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        served_app(Path(scratch), max_queue_length=options.jobs + 10, preview_every_steps=0) as app,
    ):
        board = ray.get_actor(app.args.board_name, namespace=NAMESPACE)
        before = ray.get(board.stats.remote())
        blocker = app.submit(prompt="hold the replica", steps=150, width=1024, height=1024)
        app.wait_status(blocker["id"], "running")
        clients = [httpx.Client(base_url=app.base_url, timeout=60) for _ in range(options.clients)]

        def submit(i: int) -> float:
            started = time.perf_counter()
            response = clients[i % len(clients)].post("/api/v1/jobs", json=job_request(i, 20, 128))
            assert response.status_code == 202, response.text
            return time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(options.clients) as pool:
            latencies = list(pool.map(submit, range(options.jobs)))
        elapsed = time.perf_counter() - started
        after = ray.get(board.stats.remote())
        position = app.http.get("/api/v1/queue").json()["counts"]["queued"]
        app.http.delete(f"/api/v1/jobs/{blocker['id']}")
        for client in clients:
            client.close()
    print(
        f"{options.jobs} jobs submitted by {options.clients} clients in {elapsed:.1f} s ({options.jobs / elapsed:.0f}/s); {position} queued"
    )
    print(
        f"submit latency: p50 {percentile(latencies, 0.5) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms"
    )
    print(
        f"board memory: {before['rss_bytes'] / 2**20:.0f} MiB empty → {after['rss_bytes'] / 2**20:.0f} MiB with {after['queued_jobs']} queued"
    )


if __name__ == "__main__":
    main()
