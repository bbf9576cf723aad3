"""The application builder named by `serve_config.yaml` (`novagenia.app:build_app`)."""

from __future__ import annotations

import logging
import os
from typing import Any

import ray
from ray import serve
from ray.serve import Application
from ray.serve.config import RequestRouterConfig

from novagenia.api.ingress import Ingress
from novagenia.config import AppArgs
from novagenia.detached import existing_actor
from novagenia.engine.deployment import Diffusion

logger = logging.getLogger("novagenia")

API_KEYS_ENV = "NOVAGENIA_API_KEYS"


def resolve_gpus(args: AppArgs) -> float:
    """`auto`: a whole GPU per replica where the cluster has GPUs, else CPU."""
    if args.gpus_per_replica != "auto":
        return float(args.gpus_per_replica)
    if not ray.is_initialized():
        ray.init(address="auto", ignore_reinit_error=True)
    return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def build_app(raw_args: dict[str, Any] | None = None) -> Application:
    """Validates `args` and wires the Ingress to the Diffusion deployment."""
    args = AppArgs.model_validate(raw_args or {}).absolute()
    env_keys = [key.strip() for key in os.environ.get(API_KEYS_ENV, "").split(",") if key.strip()]
    if env_keys:
        args = args.model_copy(update={"api_keys": [*args.api_keys, *env_keys]})
    gpus = resolve_gpus(args)
    logger.info("NovaGenIA: %s GPU(s) per Diffusion replica, data in %s", gpus, args.data_dir)
    scaling = args.autoscaling
    diffusion = serve.deployment(
        Diffusion,
        name="Diffusion",
        # Two tickets (batches): one on the device, the next claimed and waiting for it,
        # so the device never idles between batches; the rest of the backlog waits at
        # the handle, where the autoscaler sees it.
        max_ongoing_requests=2,
        autoscaling_config={
            "min_replicas": scaling.min_replicas,
            "initial_replicas": max(1, scaling.min_replicas),
            "max_replicas": scaling.max_replicas,
            "target_ongoing_requests": scaling.target_ongoing_requests,
            "upscale_delay_s": scaling.upscale_delay_s,
            "downscale_delay_s": scaling.downscale_delay_s,
        },
        ray_actor_options={"num_gpus": gpus, "num_cpus": args.cpus_per_replica},
        # Tickets wait at the board's handle while every replica is busy, and the router
        # retries them with backoff: Serve's default (up to 0.5 s) left a replica idle for
        # ~0.35 s between batches under a backlog. Retry sooner.
        request_router_config=RequestRouterConfig(
            initial_backoff_s=0.01, backoff_multiplier=2, max_backoff_s=0.05
        ),
        # Ctrl-C must stop the app within seconds, not after the running batch: a batch
        # cut short is requeued (by the ticket's failure, or by its lease on restart).
        graceful_shutdown_timeout_s=args.shutdown_grace_s,
    ).bind(args.model_dump(mode="json"), gpus)
    return serve.deployment(
        Ingress,
        name="Ingress",
        num_replicas=args.ingress_replicas,
        # Every open WebSocket holds a slot for its whole life.
        max_ongoing_requests=args.ingress_max_ongoing_requests,
        ray_actor_options={"num_cpus": 0},
    ).bind(args.model_dump(mode="json"), diffusion)


def remove_detached_actors(args: AppArgs) -> list[str]:
    """Kills the app's detached actors (JobBoard, Hub downloader). They outlive `serve
    shutdown` on purpose, so queued jobs and downloads survive a redeploy; this is the
    deliberate clean-up. Their data (SQLite, models) stays on disk."""
    removed = []
    for name in (args.board_name, args.downloader_name):
        actor = existing_actor(name)
        if actor is not None:
            ray.kill(actor, no_restart=True)
            removed.append(name)
    return removed
