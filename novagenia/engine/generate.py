"""One pipeline call for a batch of compatible jobs (see `jobs.run_order.batch_signature`):
each image gets its own seeded generator, so the same request and seed give the same
pixels whatever else shares the batch, and every image reports its seed."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from diffusers import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    ControlNetModel,
    DiffusionPipeline,
)
from diffusers.models.controlnets import MultiControlNetModel
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
    control_images: list[Image.Image] | None = None  # one per ControlNet unit, preprocessed
    hires_control_images: list[Image.Image] | None = None  # the same, at the hires size

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
        size = (request.width, request.height)
        plan = self
        if request.controlnet:
            sources = [inputs.load(unit.image or request.init_image) for unit in request.controlnet]
            plan = replace(plan, control_images=_control_maps(request, sources, size))
            if request.hires is not None:  # preprocessed anew: thin edges stay thin
                hires_size = (request.hires.width, request.hires.height)
                plan = replace(
                    plan, hires_control_images=_control_maps(request, sources, hires_size)
                )
        if request.init_image is None:
            return plan
        mask = None
        if request.upscale is not None:  # the whole picture, at its final size
            size = (request.upscale.width, request.upscale.height)
        init = inputs.load(request.init_image).resize(size, Image.LANCZOS)
        if request.mask is not None:
            mask = inputs.load(request.mask).convert("L").resize(size, Image.LANCZOS)
            if request.invert_mask:
                mask = ImageOps.invert(mask)
            if request.mask_blur:
                mask = mask.filter(ImageFilter.GaussianBlur(request.mask_blur))
        return replace(plan, init_image=init, mask_image=mask)


def _control_maps(
    request: GenerationRequest, sources: list[Image.Image], size: tuple[int, int]
) -> list[Image.Image]:
    """Each unit's picture at `size`, made into its control map by its preprocessor."""
    return [
        unit.preprocessor.run(source.resize(size, Image.LANCZOS))
        for unit, source in zip(request.controlnet, sources, strict=True)
    ]


def image_seed(first_seed: int, index: int) -> int:
    """A1111's convention: image i of a job uses seed + i."""
    return (first_seed + index) % 2**32


StepCallback = Callable[[int, torch.Tensor], None]


def generate(
    pipeline: DiffusionPipeline,
    plan: BatchPlan,
    on_step: StepCallback,
    scheduler_config: Mapping[str, Any],
    controlnets: list[ControlNetModel] | None = None,
) -> list[Image.Image]:
    """Runs the pipeline; `on_step(step, latents)` is called after each step with the
    1-based step number and may raise GenerationStopped. The sampler's scheduler is made
    afresh from the model's own `scheduler_config` (never from the previous run's
    scheduler, whose options and state would leak into this one). The call is shaped
    by the pipeline's family (engine/families.py); requests were checked against it.
    `speed: fast` runs every pipeline call (each pass, each tile) with step caching of
    its own (engine/step_cache.py). `controlnets`, one per ControlNet unit of the
    request, guide every pass."""
    request = plan.request
    with ExitStack() as stack:
        if request.tiling:
            stack.enter_context(seamless(denoiser_of(pipeline), pipeline.vae))
        if request.upscale is not None:
            return _tiled_upscale(pipeline, plan, on_step, scheduler_config)
        latent = request.hires is not None and request.hires.in_latent_space
        first = _call_pipeline(
            pipeline,
            plan,
            on_step,
            scheduler_config,
            controlnets=controlnets,
            output_type="latent" if latent else "pil",
        )
        if request.hires is None:
            return first
        return _hires_pass(pipeline, plan, first, on_step, scheduler_config, controlnets)


LATENT_UPSCALE_MODES = {  # HiresFix.upscaler -> torch interpolation, antialiased
    "latent": ("bilinear", False),
    "latent-antialiased": ("bilinear", True),
    "latent-bicubic": ("bicubic", False),
    "latent-bicubic-antialiased": ("bicubic", True),
    "latent-nearest": ("nearest", False),
    "latent-nearest-exact": ("nearest-exact", False),
}


def _hires_pass(
    pipeline: DiffusionPipeline,
    plan: BatchPlan,
    first: list[Image.Image] | torch.Tensor,
    on_step: StepCallback,
    scheduler_config: Mapping[str, Any],
    controlnets: list[ControlNetModel] | None,
) -> list[Image.Image]:
    """The hires fix's second pass: each picture upscaled and redrawn by img2img with
    its own seed (strength 0: only upscaled); `first` is the first pass's pictures, or
    its latents for a latent upscaler. Its steps are reported after the first pass's."""
    request, hires = plan.request, plan.request.hires
    size = (hires.width, hires.height)
    if hires.strength == 0:  # upscaled only, nothing redrawn (never latents: see submission)
        return [image.resize(size, Image.LANCZOS) for image in first]
    if hires.in_latent_space:  # img2img takes latents as its picture
        mode, antialias = LATENT_UPSCALE_MODES[hires.upscaler]
        factor = pipeline.vae_scale_factor
        init_images = torch.nn.functional.interpolate(
            first,
            size=(hires.height // factor, hires.width // factor),
            mode=mode,
            antialias=antialias,
        )
    else:
        init_images = [image.resize(size, Image.LANCZOS) for image in first]
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
        control_images=plan.hires_control_images,
    )
    return _call_pipeline(
        pipeline,
        second,
        lambda step, latents: on_step(request.steps + step, latents),
        scheduler_config,
        init_images=init_images,
        controlnets=controlnets,
    )


def _tiled_upscale(
    pipeline: DiffusionPipeline,
    plan: BatchPlan,
    on_step: StepCallback,
    scheduler_config: Mapping[str, Any],
) -> list[Image.Image]:
    """A1111's "SD upscale": the init image (read at its final size) redrawn tile by tile
    by img2img, every image of the batch with its own seed; overlapping tiles are
    blended with weights that fall off towards their edges. Tile k's steps are reported
    after the k tiles before it."""
    request = plan.request
    upscale = request.upscale
    tile_w, tile_h = request.width, request.height
    ramp = _blend_weights(tile_w, tile_h, upscale.overlap)
    sums = [np.zeros((upscale.height, upscale.width, 3)) for _ in plan.seeds]
    weights = np.zeros((upscale.height, upscale.width, 1))
    whole = replace(plan, init_image=None)
    for index, (x, y) in enumerate(upscale.tiles(tile_w, tile_h)):
        tile = plan.init_image.crop((x, y, x + tile_w, y + tile_h))
        done = index * request.steps
        images = _call_pipeline(
            pipeline,
            whole,
            lambda step, latents, done=done: on_step(done + step, latents),
            scheduler_config,
            init_images=[tile] * len(plan.seeds),
        )
        for total, image in zip(sums, images, strict=True):
            total[y : y + tile_h, x : x + tile_w] += np.asarray(image, dtype=np.float64) * ramp
        weights[y : y + tile_h, x : x + tile_w] += ramp
    return [
        Image.fromarray((total / weights).round().clip(0, 255).astype(np.uint8)) for total in sums
    ]


def _blend_weights(width: int, height: int, overlap: int) -> np.ndarray:
    """(height, width, 1) weights rising linearly over `overlap` pixels from each edge."""
    span = max(1, overlap)

    def ramp(n: int) -> np.ndarray:
        i = np.arange(n)
        return np.minimum(np.minimum(i + 1, n - i), span) / span

    return (ramp(height)[:, None] * ramp(width)[None, :])[:, :, None]


def _call_pipeline(
    pipeline: DiffusionPipeline,
    plan: BatchPlan,
    on_step: StepCallback,
    scheduler_config: Mapping[str, Any],
    init_images: list[Image.Image] | torch.Tensor | None = None,
    controlnets: list[ControlNetModel] | None = None,
    output_type: str = "pil",
) -> list[Image.Image] | torch.Tensor:
    """One pipeline call; `init_images`: one per image (the hires pass: pictures, or
    latents), else the plan's shared init image, if any. `output_type="latent"` returns
    the latents undecoded."""
    request = plan.request
    family = family_of(type(pipeline).__name__)
    options: dict[str, Any] = {}
    from_image = init_images is not None or plan.init_image is not None
    if from_image:
        pipeline, options = _image_task(pipeline, plan, init_images, controlnets)
    elif controlnets:
        pipeline = AutoPipelineForText2Image.from_pipe(
            pipeline, controlnet=_one_controlnet(controlnets)
        )
    if controlnets:
        options.update(_control_options(plan, from_image))
    pipeline.set_progress_bar_config(disable=True)  # a pipeline from `from_pipe` has its own
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
    with ExitStack() as stack, torch.inference_mode():
        if request.speed == "fast":  # the clock follows this call's own steps
            clock = stack.enter_context(step_cache(denoiser_of(pipeline), request.steps))
            on_step = clock.follow(on_step)
        result = pipeline(
            prompt=plan.prompts,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance_scale,
            generator=generators,
            output_type=output_type,
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
    pipeline: DiffusionPipeline,
    plan: BatchPlan,
    init_images: list[Image.Image] | torch.Tensor | None,
    controlnets: list[ControlNetModel] | None,
) -> tuple[DiffusionPipeline, dict[str, Any]]:
    """The family's img2img or inpainting pipeline over the same components (diffusers'
    AutoPipelines: no weights copied, LoRAs and hooks stay), its ControlNet variant when
    units guide it, and its image arguments."""
    # one shared image (and mask) is repeated over the batch by the pipeline itself;
    # cropping to the mask (`padding_mask_crop`) takes nothing else
    options: dict[str, Any] = {
        "image": plan.init_image if init_images is None else init_images,
        "strength": plan.request.strength,
    }
    extra = {"controlnet": _one_controlnet(controlnets)} if controlnets else {}
    if plan.mask_image is None:
        return AutoPipelineForImage2Image.from_pipe(pipeline, **extra), options
    options["mask_image"] = plan.mask_image
    if plan.request.mask_crop_padding is not None:
        options["padding_mask_crop"] = plan.request.mask_crop_padding
    return AutoPipelineForInpainting.from_pipe(pipeline, **extra), options


def _one_controlnet(controlnets: list[ControlNetModel]) -> ControlNetModel | MultiControlNetModel:
    return controlnets[0] if len(controlnets) == 1 else MultiControlNetModel(controlnets)


def _control_options(plan: BatchPlan, from_image: bool) -> dict[str, Any]:
    """The units' control maps, weights and step ranges as the ControlNet pipelines take
    them: plain values for one ControlNet, lists for several."""
    units = plan.request.controlnet
    single = len(units) == 1

    def per_unit(values: list) -> Any:
        return values[0] if single else values

    images = plan.control_images
    return {
        # text-to-image takes the control map as `image`; img2img and inpainting, whose
        # `image` is the picture to redraw, as `control_image`
        ("control_image" if from_image else "image"): per_unit(images),
        "controlnet_conditioning_scale": per_unit([unit.weight for unit in units]),
        "control_guidance_start": per_unit([unit.guidance_start for unit in units]),
        "control_guidance_end": per_unit([unit.guidance_end for unit in units]),
    }


def spatial_latents(pipeline: DiffusionPipeline, latents: torch.Tensor, plan: BatchPlan):
    """A step's latents as (B, C, H, W): Flux's travel packed in 2×2 patches."""
    family = family_of(type(pipeline).__name__)
    if family is None or not family.packed_latents or latents.ndim != 3:
        return latents
    request = plan.request
    return pipeline._unpack_latents(
        latents, request.height, request.width, pipeline.vae_scale_factor
    )
