"""One pipeline call for a batch of compatible jobs (see `jobs.run_order.batch_signature`):
each image gets its own seeded generator, so the same request and seed give the same
pixels whatever else shares the batch, and every image reports its seed."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch
from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, DiffusionPipeline
from PIL import Image, ImageFilter, ImageOps

from novagenia.engine.families import family_of
from novagenia.engine.fastpath import denoiser_of
from novagenia.engine.samplers import get_sampler
from novagenia.engine.step_cache import step_cache
from novagenia.inputs import InputStore
from novagenia.jobs.schemas import GenerationRequest, Job


class GenerationStopped(Exception):
    """Raised from the step callback: every job in the batch was cancelled."""


@dataclass(frozen=True)
class BatchPlan:
    """The images a batch of jobs asks for, in pipeline order."""

    request: GenerationRequest  # the shared settings (the first job's)
    prompts: list[str]
    negative_prompts: list[str]
    seeds: list[int]
    owners: list[int]  # index of the job each image belongs to
    init_image: Image.Image | None = None  # at the request's size (`with_images`)
    mask_image: Image.Image | None = None  # white = redraw, blurred and inverted as asked

    @classmethod
    def from_jobs(cls, jobs: list[Job]) -> BatchPlan:
        prompts, negatives, seeds, owners = [], [], [], []
        for owner, job in enumerate(jobs):
            request = job.request
            assert request.seed is not None
            for i in range(request.batch_size):
                prompts.append(request.prompt)
                negatives.append(request.negative_prompt)
                seeds.append(image_seed(request.seed, i))
                owners.append(owner)
        return cls(jobs[0].request, prompts, negatives, seeds, owners)

    def with_images(self, inputs: InputStore) -> BatchPlan:
        """The plan with its request's input images read (the batch shares them: see
        `jobs.run_order.batch_signature`); reads files, so off the event loop."""
        request = self.request
        if request.init_image is None:
            return self
        size = (request.width, request.height)
        init = inputs.load(request.init_image).resize(size, Image.LANCZOS)
        mask = None
        if request.mask is not None:
            mask = inputs.load(request.mask).convert("L").resize(size, Image.LANCZOS)
            if request.invert_mask:
                mask = ImageOps.invert(mask)
            if request.mask_blur:
                mask = mask.filter(ImageFilter.GaussianBlur(request.mask_blur))
        return replace(self, init_image=init, mask_image=mask)


def image_seed(first_seed: int, index: int) -> int:
    """A1111's convention: image i of a job uses seed + i."""
    return (first_seed + index) % 2**32


StepCallback = Callable[[int, torch.Tensor], None]


def generate(
    pipeline: DiffusionPipeline,
    plan: BatchPlan,
    on_step: StepCallback,
    scheduler_config: Mapping[str, Any],
) -> list[Image.Image]:
    """Runs the pipeline; `on_step(step, latents)` is called after each step with the
    1-based step number and may raise GenerationStopped. The sampler's scheduler is made
    afresh from the model's own `scheduler_config` (never from the previous run's
    scheduler, whose options and state would leak into this one). The call is shaped
    by the pipeline's family (engine/families.py); requests were checked against it.
    `speed: fast` runs the call with step caching (engine/step_cache.py)."""
    request = plan.request
    with ExitStack() as stack:
        if request.speed == "fast":
            clock = stack.enter_context(step_cache(denoiser_of(pipeline), request.steps))
            on_step = clock.follow(on_step)
        if request.tiling:
            stack.enter_context(seamless(denoiser_of(pipeline), pipeline.vae))
        images = _call_pipeline(pipeline, plan, on_step, scheduler_config)
        if request.hires is None:
            return images
        return _hires_pass(pipeline, plan, images, on_step, scheduler_config)


def _hires_pass(
    pipeline: DiffusionPipeline,
    plan: BatchPlan,
    images: list[Image.Image],
    on_step: StepCallback,
    scheduler_config: Mapping[str, Any],
) -> list[Image.Image]:
    """The hires fix's second pass: each picture upscaled and redrawn by img2img with
    its own seed; its steps are reported after the first pass's."""
    request, hires = plan.request, plan.request.hires
    size = (hires.width, hires.height)
    second = replace(
        plan,
        request=request.model_copy(
            update={
                "width": hires.width,
                "height": hires.height,
                "steps": request.hires_steps,
                "strength": hires.strength,
                "hires": None,
            }
        ),
        init_image=None,
        mask_image=None,
    )
    return _call_pipeline(
        pipeline,
        second,
        lambda step, latents: on_step(request.steps + step, latents),
        scheduler_config,
        init_images=[image.resize(size, Image.LANCZOS) for image in images],
    )


def _call_pipeline(
    pipeline: DiffusionPipeline,
    plan: BatchPlan,
    on_step: StepCallback,
    scheduler_config: Mapping[str, Any],
    init_images: list[Image.Image] | None = None,
) -> list[Image.Image]:
    """One pipeline call; `init_images`: one per image (the hires pass), else the plan's
    shared init image, if any."""
    request = plan.request
    family = family_of(type(pipeline).__name__)
    options: dict[str, Any] = {}
    from_image = init_images is not None or plan.init_image is not None
    if from_image:
        pipeline, options = _image_task(pipeline, plan, init_images)
    pipeline.scheduler = get_sampler(request.sampler).make(scheduler_config)
    # Where the denoising runs: with CPU offload (engine/memory.py) the weights rest on
    # the CPU, `pipeline.device`, while the noise must come from the GPU like any other.
    device = pipeline._execution_device
    generator_device = "cpu" if device.type == "mps" else device
    generators = [torch.Generator(generator_device).manual_seed(seed) for seed in plan.seeds]
    if any(plan.negative_prompts):
        options["negative_prompt"] = plan.negative_prompts
    if family is not None and family.resolution_binning:
        options["use_resolution_binning"] = False  # sizes are the request's, checked
    if family is not None and not family.step_callback:

        def legacy_callback(step_index: int, timestep, latents: torch.Tensor) -> None:
            on_step(step_index + 1, latents)

        options.update(callback=legacy_callback, callback_steps=1)
    else:

        def callback(pipe, step: int, timestep, kwargs):
            # img2img skips the first steps: they count as done, so the last is `steps`
            # (second-order samplers call back more often than `steps`: never below 0)
            skipped = max(0, request.steps - pipe.num_timesteps) if from_image else 0
            on_step(skipped + step + 1, kwargs["latents"])
            return kwargs

        options.update(
            callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["latents"]
        )
    if "width" in inspect.signature(pipeline.__call__).parameters:
        options.update(width=request.width, height=request.height)
    with torch.inference_mode():
        result = pipeline(
            prompt=plan.prompts,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance_scale,
            generator=generators,
            **options,
        )
    return result.images


@contextmanager
def seamless(*modules: torch.nn.Module) -> Iterator[None]:
    """For one call, every padded convolution of `modules` pads circularly (what it
    reads past one edge comes from the opposite one), so the picture tiles."""
    wrapped = [
        conv
        for module in modules
        for conv in module.modules()
        if isinstance(conv, torch.nn.Conv2d)
        and conv.padding_mode == "zeros"
        and conv.padding not in ((0, 0), "valid")
    ]
    for conv in wrapped:
        conv.padding_mode = "circular"
    try:
        yield
    finally:
        for conv in wrapped:
            conv.padding_mode = "zeros"


def _image_task(
    pipeline: DiffusionPipeline, plan: BatchPlan, init_images: list[Image.Image] | None
) -> tuple[DiffusionPipeline, dict[str, Any]]:
    """The family's img2img or inpainting pipeline over the same components (diffusers'
    AutoPipelines: no weights copied, LoRAs and hooks stay), and its image arguments."""
    # one shared image (and mask) is repeated over the batch by the pipeline itself;
    # cropping to the mask (`padding_mask_crop`) takes nothing else
    options: dict[str, Any] = {
        "image": init_images or plan.init_image,
        "strength": plan.request.strength,
    }
    if plan.mask_image is None:
        return AutoPipelineForImage2Image.from_pipe(pipeline), options
    options["mask_image"] = plan.mask_image
    if plan.request.mask_crop_padding is not None:
        options["padding_mask_crop"] = plan.request.mask_crop_padding
    return AutoPipelineForInpainting.from_pipe(pipeline), options


def spatial_latents(pipeline: DiffusionPipeline, latents: torch.Tensor, plan: BatchPlan):
    """A step's latents as (B, C, H, W): Flux's travel packed in 2×2 patches."""
    family = family_of(type(pipeline).__name__)
    if family is None or not family.packed_latents or latents.ndim != 3:
        return latents
    request = plan.request
    return pipeline._unpack_latents(
        latents, request.height, request.width, pipeline.vae_scale_factor
    )
