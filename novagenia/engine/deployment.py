"""The Diffusion deployment: replicas that hold pipelines (multiplexed by model id) and
run the jobs the JobBoard hands them, one ticket at a time.

A job's path on a replica reads as named steps: load the model → claim → run (reporting
progress, stopping when cancelled) → store the images → complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import torch
from ray import serve

from novagenia.config import AppArgs
from novagenia.engine.adapters import LoraAdapters, LoraError
from novagenia.engine.device import DevicePlan
from novagenia.engine.generate import BatchPlan, GenerationStopped, generate
from novagenia.engine.infotext import infotext, png_with_parameters
from novagenia.engine.pipelines import LoadedPipeline, load_pipeline
from novagenia.engine.previews import LatentProjection, as_data_url
from novagenia.jobs.actor import get_board
from novagenia.jobs.schemas import ImageInfo, Job
from novagenia.logs import configure_logging
from novagenia.loras.library import LoraLibrary
from novagenia.models import ModelRegistry
from novagenia.monitoring import record_generation
from novagenia.outputs import OutputStore

logger = logging.getLogger("novagenia.diffusion")

LOADED_REPORT_S = 30.0


def describe_error(exc: Exception, limit: int = 300) -> str:
    """An exception in words for a job's `error`: its message (first line, bounded), with
    the class name only when the message says nothing."""
    words = str(exc).strip().splitlines()
    text = words[0] if words else ""
    return text[:limit] if text else type(exc).__name__


class ProgressReporter:
    """Carries step callbacks (pipeline thread) to the board (event loop) with at most one
    call in flight: steps that arrive meanwhile travel together in the next call, so
    every step is reported, the board is not flooded, and the GPU never waits on it."""

    def __init__(self, board, worker: str, loop: asyncio.AbstractEventLoop) -> None:
        self._board = board
        self._worker = worker
        self._loop = loop
        self._pending: list[dict[str, Any]] = []
        self._wakeup = asyncio.Event()
        self._closed = False
        self.stop: set[str] = set()  # job ids the board says must stop
        self._task = loop.create_task(self._pump())

    def post(self, update: dict[str, Any]) -> None:
        """Thread-safe: called from the pipeline thread."""
        self._loop.call_soon_threadsafe(self._enqueue, update)

    def _enqueue(self, update: dict[str, Any]) -> None:
        self._pending.append(update)
        self._wakeup.set()

    async def _pump(self) -> None:
        while not (self._closed and not self._pending):
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                self.stop.update(await self._board.report.remote(self._worker, batch))
            except Exception:
                logger.exception("progress report failed")

    async def heartbeat(self, job_ids: list[str]) -> None:
        self.stop.update(await self._board.heartbeat.remote(self._worker, job_ids))

    async def close(self) -> None:
        """Delivers every pending update before returning (events stay in order)."""
        await asyncio.sleep(0)  # let call_soon_threadsafe callbacks land
        self._closed = True
        self._wakeup.set()
        await self._task


class Diffusion:
    def __init__(self, args: dict[str, Any], gpus: float) -> None:
        configure_logging()
        self.args = AppArgs.model_validate(args)
        self.plan = DevicePlan.for_replica(
            gpus,
            self.args.dtype,
            cpu_threads=max(1, int(self.args.cpus_per_replica)),
            compile_unet=self.args.compile_unet,
        )
        self.registry = ModelRegistry(self.args.models_dir, self.args.default_model)
        self.store = OutputStore(self.args.resolved_output_uri)
        self.board = get_board(self.args)
        self.worker = serve.get_replica_context().replica_id.unique_id
        self.loras = LoraAdapters(LoraLibrary(self.args.loras_dir), self.args.max_loras_per_model)

        async def load_model(model_id: str) -> LoadedPipeline:
            # A plain function: Serve keeps its LRU state on the decorated object, which
            # a bound method cannot carry. The bound is configurable, hence not a decorator.
            path = await asyncio.to_thread(self.registry.materialize, model_id)
            return await asyncio.to_thread(
                load_pipeline, model_id, path, self.plan, self.registry.models_dir
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
            loaded = await self.load_model(model_id)
        except Exception as exc:
            logger.exception("could not load %s", model_id)
            return await self._fail_claimed(
                model_id,
                ticket_id,
                f"model {model_id!r} could not be loaded: {describe_error(exc)}",
            )
        self._note_loaded()
        jobs = await self.board.claim.remote(
            model_id, self.worker, ticket_id, self.args.max_batch_jobs, self.args.max_batch_images
        )
        if not jobs:
            return 0
        pipeline = loaded.acquire()
        try:
            # the jobs of one batch share their LoRA set (see jobs.board.batch_signature)
            await asyncio.to_thread(self.loras.activate, pipeline, model_id, jobs[0].request.loras)
        except Exception as exc:
            await self._fail_all(jobs, exc)
        else:
            await self._run(loaded, pipeline, jobs)
        finally:
            loaded.release()
        return len(jobs)

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

    async def _fail_claimed(self, model_id: str, ticket_id: str, error: str) -> int:
        jobs = await self.board.claim.remote(model_id, self.worker, ticket_id, 1)
        for job in jobs:
            await self.board.fail.remote(job.id, self.worker, error)
        return len(jobs)

    async def _run(self, loaded: LoadedPipeline, pipeline, jobs: list[Job]) -> None:
        loop = asyncio.get_running_loop()
        reporter = ProgressReporter(self.board, self.worker, loop)
        heartbeat = loop.create_task(self._heartbeat(reporter, [job.id for job in jobs]))
        plan = BatchPlan.from_jobs(jobs)
        on_step = self._step_callback(reporter, jobs, plan, loaded.previews)
        error: Exception | None = None
        images = None
        started = time.perf_counter()
        try:
            images = await asyncio.to_thread(
                generate, pipeline, plan, on_step, loaded.scheduler_config
            )
        except GenerationStopped:
            pass
        except Exception as exc:
            error = exc
        finally:
            heartbeat.cancel()
        if images is not None:
            seconds = time.perf_counter() - started
            record_generation(
                plan.request.model, self.plan.device, plan.request.steps, seconds, len(images)
            )
        await reporter.close()
        if error is not None:
            await self._fail_all(jobs, error)
        else:
            await self._complete(jobs, plan, images, reporter.stop)

    def _step_callback(
        self,
        reporter: ProgressReporter,
        jobs: list[Job],
        plan: BatchPlan,
        previews: LatentProjection | None,
    ):
        started = time.perf_counter()
        total = plan.request.steps
        every = self.args.preview_every_steps

        def on_step(step: int, latents: torch.Tensor) -> None:
            if all(job.id in reporter.stop for job in jobs):
                raise GenerationStopped()
            elapsed = time.perf_counter() - started
            progress = {
                "ts": time.time(),  # when the step happened, not when the board heard
                "step": step,
                "total_steps": total,
                "elapsed_s": round(elapsed, 3),
                "eta_s": round(elapsed / step * (total - step), 3),
            }
            want_preview = previews and every and step % every == 0 and step < total
            for owner, job in enumerate(jobs):
                reporter.post({"job_id": job.id, "type": "progress", **progress})
                if want_preview:
                    image = previews.preview(latents[plan.owners.index(owner)])
                    if image is not None:
                        reporter.post(
                            {
                                "job_id": job.id,
                                "type": "preview",
                                "step": step,
                                "image": as_data_url(image),
                            }
                        )

        return on_step

    async def _heartbeat(self, reporter: ProgressReporter, job_ids: list[str]) -> None:
        while True:
            await asyncio.sleep(self.args.lease_timeout_s / 4)
            try:
                await reporter.heartbeat(job_ids)
            except Exception:
                logger.exception("heartbeat failed")

    async def _complete(self, jobs: list[Job], plan: BatchPlan, images, stop: set[str]) -> None:
        for owner, job in enumerate(jobs):
            if images is None or job.id in stop:
                await self.board.cancelled.remote(job.id, self.worker)
                continue
            mine = [(i, images[i], plan.seeds[i]) for i, o in enumerate(plan.owners) if o == owner]
            infos = await asyncio.to_thread(self._store_images, job, mine)
            await self.board.succeed.remote(job.id, self.worker, infos)

    def _store_images(self, job: Job, images: list[tuple[int, Any, int]]) -> list[ImageInfo]:
        infos = []
        for index, (_, image, seed) in enumerate(images):
            text = infotext(job.request, seed, image.width, image.height)
            self.store.write(job.id, index, png_with_parameters(image, text))
            infos.append(
                ImageInfo(
                    index=index,
                    url=OutputStore.url(job.id, index),
                    seed=seed,
                    width=image.width,
                    height=image.height,
                )
            )
        return infos

    async def _fail_all(self, jobs: list[Job], exc: Exception) -> None:
        logger.error("generation failed for %s", [job.id for job in jobs], exc_info=exc)
        if isinstance(exc, torch.OutOfMemoryError):
            message = "out of GPU memory: try a smaller size or batch"
            torch.cuda.empty_cache()
        elif isinstance(exc, LoraError):
            message = str(exc)
        else:
            message = f"generation failed: {describe_error(exc)}"
        for job in jobs:
            await self.board.fail.remote(job.id, self.worker, message)
