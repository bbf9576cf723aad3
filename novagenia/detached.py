"""The app's detached Ray actors (the JobBoard, the Hub downloader): one way to create
or find them, so they all live in the same namespace, on the head node, and come back
when they die."""

from __future__ import annotations

from typing import Any

import ray

NAMESPACE = "novagenia"


def detached_actor(cls: type, name: str, *args: Any, **options: Any) -> ray.actor.ActorHandle:
    """The actor `name`, created from `cls(*args)` on first use. It outlives the Serve
    application that created it (`novagenia shutdown` removes it), is restarted by Ray
    whenever it dies, and is pinned to the head node without holding a CPU there.
    `options` adds or overrides Ray actor options (concurrency, retries, runtime_env)."""
    defaults: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "get_if_exists": True,
        "lifetime": "detached",
        "max_restarts": -1,
        "num_cpus": 0,
        "resources": {"node:__internal_head__": 0.001},
    }
    return ray.remote(cls).options(**(defaults | options)).remote(*args)


def existing_actor(name: str) -> ray.actor.ActorHandle | None:
    """The actor `name` when it was created (running or restarting), else None."""
    try:
        return ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return None
