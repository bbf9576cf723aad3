"""The Diffusion deployment: Serve glue around `JobRunner` (engine/runner.py). A replica
holds pipelines multiplexed by model id (`@serve.multiplexed`), tells the board which it
holds, and takes two tickets at a time: while one batch holds the device, the next is
claimed and waits for it, and the one before stores its pictures (engine/runner.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ray import serve

from novagenia.config import AppArgs
from novagenia.engine.adapters import LoraAdapters
from novagenia.engine.batch_memory import device_headroom
from novagenia.engine.controlnets import ControlNetCache
from novagenia.engine.device import DevicePlan
from novagenia.engine.fastpath import use_compile_cache
from novagenia.engine.pipelines import LoadedPipeline, load_pipeline
from novagenia.engine.runner import JobRunner, describe_error
from novagenia.jobs.actor import get_board
from novagenia.logs import configure_logging
from novagenia.loras.library import LoraLibrary
from novagenia.models import ModelRegistry
from novagenia.outputs import OutputStore

logger = logging.getLogger("novagenia.diffusion")

LOADED_REPORT_S = 30.0


class Diffusion:
    def __init__(self, args: dict[str, Any], gpus: float) -> None:
        configure_logging()
        self.args = AppArgs.model_validate(args)
        self.gpus = gpus
        self.plan = DevicePlan.for_replica(
            gpus,
            self.args.dtype,
            cpu_threads=max(1, int(self.args.cpus_per_replica)),
            compile=self.args.compile,
            warmup_batches=tuple(self.args.compile_warmup_batches),
        )
        if self.plan.compile:
            use_compile_cache(self.args.compile_cache_dir)
        self.registry = ModelRegistry(self.args.models_dir, self.args.default_model)
        self.board = get_board(self.args)
        self.worker = serve.get_replica_context().replica_id.unique_id
        self.runner = JobRunner(
            self.args,
            self.board,
            self.worker,
            self.plan.device,
            OutputStore(self.args.resolved_output_uri),
            LoraAdapters(LoraLibrary(self.args.loras_dir), self.args.max_loras_per_model),
            ControlNetCache(self.registry),
        )

        async def load_model(model_id: str) -> LoadedPipeline:
            # A plain function: Serve keeps its LRU state on the decorated object, which
            # a bound method cannot carry. The bound is configurable, hence not a decorator.
            path = await asyncio.to_thread(self.registry.materialize, model_id)
            return await self.runner.on_pipeline_thread(
                load_pipeline,
                model_id,
                path,
                self.plan,
                self.registry.models_dir,
                self.args.memory_plan(model_id),
            )

        self.load_model = serve.multiplexed(
            max_num_models_per_replica=self.args.max_models_per_replica
        )(load_model)
        self._multiplexed = load_model  # Serve keeps its wrapper (the LRU) on it
        self._models_changed = asyncio.Event()
        self._loaded_reporter: asyncio.Task | None = None
        logger.info("Diffusion replica %s on %s", self.worker, self.plan.device)

    async def run_ticket(self, ticket_id: str) -> int:
        """Runs the best queued job(s) for this request's model; 0 when none was left."""
        model_id = serve.get_multiplexed_model_id()
        try:
            loaded = await self._load(model_id)
        except Exception as exc:
            logger.exception("could not load %s", model_id)
            return await self.runner.fail_ticket(
                model_id,
                ticket_id,
                f"model {model_id!r} could not be loaded: {describe_error(exc)}",
            )
        self._note_loaded()
        # Held from before the claim: an eviction meanwhile must not free it.
        loaded.acquire()
        try:
            return await self.runner.run_ticket(loaded, ticket_id)
        finally:
            loaded.release()

    async def _load(self, model_id: str) -> LoadedPipeline:
        """The ticket's pipeline. A model not yet loaded loads only while the device is
        free: two models' weights must not share it while one of them denoises."""
        if model_id in await self.loaded_models():
            return await self.load_model(model_id)
        async with self.runner.device_lock:
            loaded = await self.load_model(model_id)
            self.runner.device_headroom = await self.runner.on_pipeline_thread(
                device_headroom, self.gpus
            )
            return loaded

    async def loaded_models(self) -> list[str]:
        wrapper = getattr(self._multiplexed, "__serve_multiplex_wrapper", None)
        return list(wrapper.models) if wrapper is not None else []

    def _note_loaded(self) -> None:
        self._models_changed.set()
        if self._loaded_reporter is None:
            self._loaded_reporter = asyncio.get_running_loop().create_task(self._report_loaded())

    async def _report_loaded(self) -> None:
        """Keeps the board's view of this replica's models (`loaded_on` in GET /models)
        fresh: right after a load or eviction, else every `LOADED_REPORT_S`."""
        while True:
            self._models_changed.clear()
            try:
                await self.board.models_loaded.remote(self.worker, await self.loaded_models())
            except Exception:
                logger.warning("could not report loaded models", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._models_changed.wait(), LOADED_REPORT_S)
