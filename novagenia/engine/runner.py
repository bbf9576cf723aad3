"""A ticket's work on a replica as named steps, the way a diffusers pipeline's `__call__`
reads (docs/architecture.md, "A job's path"):

    claim → activate LoRAs → generate (reporting every step) → store → complete

`JobRunner` knows the board, the output store and the LoRA adapters, not Serve: the
Diffusion deployment (`engine/deployment.py`) loads the model and hands it over."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import torch

from novagenia.config import AppArgs
from novagenia.engine.adapters import LoraAdapters, LoraError
from novagenia.engine.batch_memory import auto_max_images, max_batch_pixels
from novagenia.engine.controlnets import ControlNetCache
from novagenia.engine.generate import BatchPlan, GenerationStopped, generate, spatial_latents
from novagenia.engine.infotext import infotext, png_with_parameters
from novagenia.engine.pipelines import LoadedPipeline
from novagenia.engine.reporter import ProgressReporter
from novagenia.inputs import InputStore
from novagenia.jobs.protocol import ClaimRequest, Completion, ProgressReport
from novagenia.jobs.schemas import ImageInfo, Job
from novagenia.monitoring import record_generation
from novagenia.outputs import OutputStore

logger = logging.getLogger("novagenia.diffusion")
T = TypeVar("T")


@dataclass
class BatchOutcome:
    """What `generate` left: pictures, or the error, and the jobs that must not finish."""

    images: list[Any] | None
    error: Exception | None
    stopped: set[str]


def describe_error(exc: Exception, limit: int = 300) -> str:
    """An exception in words for a job's `error`: its message (first line, bounded), with
    the class name only when the message says nothing."""
    words = str(exc).strip().splitlines()
    text = words[0] if words else ""
    return text[:limit] if text else type(exc).__name__


class JobRunner:
    def __init__(
        self,
        args: AppArgs,
        board,
        worker: str,
        device: str,
        store: OutputStore,
        loras: LoraAdapters,
        controlnets: ControlNetCache,
    ) -> None:
        self.args = args
        self.board = board
        self.worker = worker
        self.device = device
        self.store = store
        self.inputs = InputStore(args.resolved_output_uri)
        self.loras = loras
        self.controlnets = controlnets
        # One batch on the device at a time. The next ticket claims its jobs when the
        # batch before it reaches its last step (`next_claim_open`), so the claim and
        # the hand-over overlap the decode, and priorities hold up to then.
        self.device_lock = asyncio.Lock()
        self.pipeline_thread = ThreadPoolExecutor(1, thread_name_prefix="pipeline")
        self._claim_lock = asyncio.Lock()
        self.next_claim_open = asyncio.Event()
        self.next_claim_open.set()
        # Free device memory after the latest load (CUDA; engine/batch_memory.py)
        self.device_headroom: int | None = None

    async def run_ticket(self, loaded: LoadedPipeline, ticket_id: str) -> int:
        """The best queued job(s) of the loaded model, start to finish; returns how many
        jobs it ran (0 when none was left).

        A replica takes two tickets at once, so this overlaps with the batch before it:
        the claim happens while that batch decodes, and this batch's tail (PNGs, store,
        completions) runs while the next one holds the device."""
        async with self._claim_lock:
            await self.next_claim_open.wait()
            jobs = await self.claim(loaded.model_id, ticket_id, loaded.bytes_per_pixel)
            if not jobs:
                return 0
            self.next_claim_open.clear()
        loop = asyncio.get_running_loop()
        opened = False

        def open_next_claim() -> None:
            """Once per ticket: a second call, after the next ticket has claimed and
            closed the gate, would let a third one claim while the device is busy."""
            nonlocal opened
            if not opened:
                opened = True
                self.next_claim_open.set()

        reporter = ProgressReporter(self.board, self.worker, loop)
        # Claimed jobs keep their leases while they wait for the device and while stored.
        heartbeat = loop.create_task(self._heartbeat(reporter, [job.id for job in jobs]))
        try:
            plan = BatchPlan.from_jobs(jobs)
            try:
                outcome = await self.generate(loaded, jobs, plan, reporter, open_next_claim)
            finally:
                open_next_claim()
            await reporter.close()
            await self.finish(jobs, plan, outcome)
        finally:
            open_next_claim()
            heartbeat.cancel()
        return len(jobs)

    async def finish(self, jobs: list[Job], plan: BatchPlan, outcome: BatchOutcome) -> None:
        """Stores each job's pictures and reports how it ended, job by job."""
        if outcome.error is not None:
            await self.fail(jobs, outcome.error)
            return
        for owner, job in enumerate(jobs):
            if outcome.images is None or job.id in outcome.stopped:
                await self.complete(job, "cancelled")
                continue
            try:
                infos = await asyncio.to_thread(self.store_images, job, plan, outcome.images, owner)
            except OSError as exc:  # a full disk fails the job, not the replica
                logger.error("could not store the pictures of %s", job.id, exc_info=exc)
                error = f"could not store the pictures: {describe_error(exc)}"
                await self.complete(job, "failed", error=error)
                continue
            await self.complete(job, "succeeded", images=infos)

    async def fail_ticket(self, model_id: str, ticket_id: str, error: str) -> int:
        """The model cannot be loaded: the ticket's best job fails with `error`."""
        jobs = await self.claim(model_id, ticket_id, max_jobs=1)
        for job in jobs:
            await self.complete(job, "failed", error=error)
        return len(jobs)

    # ------------------------------------------------------------------ the steps

    async def claim(
        self,
        model_id: str,
        ticket_id: str,
        bytes_per_pixel: float | None = None,
        max_jobs: int | None = None,
    ) -> list[Job]:
        max_images = self.args.max_batch_images
        auto = max_images == "auto"
        request = ClaimRequest(
            model=model_id,
            worker=self.worker,
            ticket_id=ticket_id,
            max_jobs=max_jobs or self.args.max_batch_jobs,
            max_images=auto_max_images(self.device) if auto else max_images,
            max_pixels=max_batch_pixels(self.device_headroom, bytes_per_pixel) if auto else None,
        )
        return await self.board.claim.remote(request)

    async def on_pipeline_thread(self, function: Callable[..., T], *args: Any) -> T:
        """Runs `function` on the replica's one pipeline thread. Every pipeline call goes
        there: CUDA graphs (the compiled path) are recorded per thread, so warm-up and
        jobs must share one."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pipeline_thread, partial(function, *args))

    async def activate_loras(self, pipeline, model_id: str, jobs: list[Job]) -> None:
        """The jobs of one batch share their LoRA set (see `jobs.run_order.batch_signature`)."""
        await self.on_pipeline_thread(
            self.loras.activate, pipeline, model_id, jobs[0].request.loras
        )

    async def generate(
        self,
        loaded: LoadedPipeline,
        jobs: list[Job],
        plan: BatchPlan,
        reporter: ProgressReporter,
        open_next_claim: Callable[[], None],
    ) -> BatchOutcome:
        """The batch's input pictures are read (and preprocessed for its ControlNets,
        which load beside the pipeline) first, while the batch before may still
        denoise; then, holding the device, its LoRA set and the pipeline on the pipeline
        thread, reporting each step; a step finds out when every job must stop. The caller
        holds `loaded` (LoadedPipeline.acquire) from before the claim."""
        try:
            plan = await asyncio.to_thread(plan.with_images, self.inputs)
            controlnets = None
            if plan.request.controlnet:
                controlnets = await asyncio.to_thread(
                    self.controlnets.get,
                    [unit.model for unit in plan.request.controlnet],
                    loaded.pipeline._execution_device,
                    loaded.pipeline.dtype,
                )
        except Exception as exc:  # an input or a ControlNet deleted since submitted
            return BatchOutcome(images=None, error=exc, stopped=set())
        async with self.device_lock:
            try:
                await self.activate_loras(loaded.pipeline, loaded.model_id, jobs)
            except Exception as exc:
                return BatchOutcome(images=None, error=exc, stopped=set())
            on_step = self._step_callback(reporter, jobs, plan, loaded, open_next_claim)
            images, error = None, None
            started = time.perf_counter()
            try:
                images = await self.on_pipeline_thread(
                    generate,
                    loaded.pipeline,
                    plan,
                    on_step,
                    loaded.scheduler_config,
                    controlnets,
                )
            except GenerationStopped:
                pass
            except Exception as exc:
                error = exc
            if images is not None:
                seconds = time.perf_counter() - started
                record_generation(
                    plan.request.model, self.device, plan.request.steps, seconds, len(images)
                )
            return BatchOutcome(images=images, error=error, stopped=set(reporter.stop))

    def store_images(
        self, job: Job, plan: BatchPlan, images: list[Any], owner: int
    ) -> list[ImageInfo]:
        """Writes the job's pictures as PNGs with their parameters embedded."""
        infos = []
        mine = [(images[i], plan.seeds[i]) for i, o in enumerate(plan.owners) if o == owner]
        for index, (image, seed) in enumerate(mine):
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

    async def complete(self, job: Job, outcome: str, **details: Any) -> None:
        await self.board.complete.remote(
            Completion(job_id=job.id, worker=self.worker, outcome=outcome, **details)
        )

    async def fail(self, jobs: list[Job], exc: Exception) -> None:
        logger.error("generation failed for %s", [job.id for job in jobs], exc_info=exc)
        if isinstance(exc, torch.OutOfMemoryError):
            message = "out of GPU memory: try a smaller size or batch"
            torch.cuda.empty_cache()
        elif isinstance(exc, LoraError):
            message = str(exc)
        else:
            message = f"generation failed: {describe_error(exc)}"
        for job in jobs:
            await self.complete(job, "failed", error=message)

    # ------------------------------------------------------------------ helpers

    def _step_callback(
        self,
        reporter: ProgressReporter,
        jobs: list[Job],
        plan: BatchPlan,
        loaded: LoadedPipeline,
        open_next_claim: Callable[[], None],
    ):
        started = time.perf_counter()
        previews = loaded.previews
        total = plan.request.total_steps
        first_pass = plan.request.steps  # previews follow it (the hires pass has its own size)
        every = self.args.preview_every_steps
        job_ids = [job.id for job in jobs]

        loop = asyncio.get_running_loop()

        def on_step(step: int, latents: torch.Tensor) -> None:
            if all(job.id in reporter.stop for job in jobs):
                raise GenerationStopped()
            if step == total:  # only the decode is left: the next batch may claim
                loop.call_soon_threadsafe(open_next_claim)
            elapsed = time.perf_counter() - started
            now = time.time()
            reporter.post(
                ProgressReport(
                    job_ids=job_ids,
                    ts=now,
                    step=step,
                    total_steps=total,
                    elapsed_s=round(elapsed, 3),
                    eta_s=round(elapsed / step * (total - step), 3),
                )
            )
            if previews and every and step % every == 0 and step < first_pass:
                latents = spatial_latents(loaded.pipeline, latents, plan)
                for owner, job in enumerate(jobs):
                    # A copy queued on the device: rendering (and the host copy that
                    # waits for it) happens off this thread, so the step never syncs.
                    snapshot = latents[plan.owners.index(owner)].detach().clone()
                    reporter.post_preview(job.id, step, lambda s=snapshot: previews.preview(s))

        return on_step

    async def _heartbeat(self, reporter: ProgressReporter, job_ids: list[str]) -> None:
        while True:
            await asyncio.sleep(self.args.lease_timeout_s / 4)
            try:
                await reporter.heartbeat(job_ids)
            except Exception:
                logger.exception("heartbeat failed")
