"""Pipeline families and what each model of one can do, so requests are checked against
the model before they queue and the pipeline is called the way its family expects.

A family is told by the pipeline class in `model_index.json`; the rest of a model's
capabilities come from its own configs (its scheduler, its denoiser, its VAE): the
samplers that follow its noise schedule, its native size and size multiple, whether its
guidance is classifier-free (a negative prompt applies), distilled into the model (Flux
dev: one pass, no negative prompt) or absent (Flux schnell)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Guidance = Literal["cfg", "distilled", "none"]


@dataclass(frozen=True)
class Family:
    name: str
    label: str
    pipeline_classes: tuple[str, ...]
    default_steps: int
    default_guidance: float
    default_sampler: str  # a model whose schedule excludes it takes its first sampler
    guidance: Guidance = "cfg"
    loras: bool = False  # our LoRA library and mixer are proven on this family
    packed_latents: bool = False  # Flux: latents travel as 2×2 patches (B, tokens, C·4)
    custom_sigmas: bool = False  # Flux: the pipeline hands the scheduler its own sigmas
    step_callback: bool = True  # False: only the legacy `callback` (PixArt)
    resolution_binning: bool = False  # snaps sizes to trained bins unless told not to
    image_inputs: bool = False  # img2img and masked inpainting (diffusers' AutoPipelines)
    tiling: bool = False  # seamless pictures: a UNet's (and VAE's) convolutions wrap around
    controlnet: bool = False  # diffusers' ControlNetModel guides its UNet
    latent_inputs: bool = False  # its img2img takes latents as the picture (latent hires)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "sd",
            "Stable Diffusion 1.x/2.x",
            ("StableDiffusionPipeline", "StableDiffusionInpaintPipeline"),
            default_steps=20,
            default_guidance=7.0,
            default_sampler="euler_a",
            loras=True,
            image_inputs=True,
            tiling=True,
            controlnet=True,
            latent_inputs=True,
        ),
        Family(
            "sdxl",
            "Stable Diffusion XL",
            ("StableDiffusionXLPipeline", "StableDiffusionXLInpaintPipeline"),
            default_steps=25,
            default_guidance=5.0,
            default_sampler="euler_a",
            loras=True,
            image_inputs=True,
            tiling=True,
            controlnet=True,
            latent_inputs=True,
        ),
        Family(
            "sd3",
            "Stable Diffusion 3/3.5",
            ("StableDiffusion3Pipeline",),
            default_steps=28,
            default_guidance=7.0,
            default_sampler="flow_euler",
            loras=True,
            image_inputs=True,
        ),
        Family(
            "flux",
            "Flux",
            ("FluxPipeline",),
            default_steps=28,
            default_guidance=3.5,
            default_sampler="flow_euler",
            loras=True,
            image_inputs=True,
            guidance="distilled",
            packed_latents=True,
            custom_sigmas=True,
        ),
        Family(
            "pixart",
            "PixArt-α/Σ",
            ("PixArtSigmaPipeline", "PixArtAlphaPipeline"),
            default_steps=20,
            default_guidance=4.5,
            default_sampler="dpmpp_2m",
            step_callback=False,
            resolution_binning=True,
        ),
        Family(
            "sana",
            "Sana",
            ("SanaPipeline",),
            default_steps=20,
            default_guidance=4.5,
            default_sampler="flow_dpmpp_2m",
            loras=True,
            resolution_binning=True,
        ),
    )
}

FAMILY_BY_PIPELINE = {
    cls: family for family in FAMILIES.values() for cls in family.pipeline_classes
}

# Flux schnell is Flux without the guidance embedding: few steps, no guidance at all.
SCHNELL_STEPS = 4


def family_of(pipeline_class: str | None) -> Family | None:
    return FAMILY_BY_PIPELINE.get(pipeline_class or "")


def supported_families() -> str:
    return ", ".join(family.label for family in FAMILIES.values())


@dataclass(frozen=True)
class Capabilities:
    """What requests for one model may ask, and what they get when they ask nothing."""

    family: str
    samplers: tuple[str, ...]
    default_sampler: str
    default_steps: int
    default_guidance: float
    guidance: Guidance
    negative_prompt: bool
    loras: bool
    native_size: int
    size_multiple: int
    image_inputs: bool  # img2img (init_image, strength) and inpainting (mask)
    tiling: bool  # seamless pictures
    controlnet: bool  # ControlNet units (`controlnet` in a request)
    inpaint_only: bool  # a dedicated inpainting model: every job needs an init image and mask
    latent_upscale: bool  # the hires fix's latent upscalers


def is_flow_schedule(scheduler_config: Mapping[str, Any]) -> bool:
    """Flow matching (SD3, Flux, Sana) rather than a DDPM-family noise schedule."""
    return (
        str(scheduler_config.get("_class_name", "")).startswith("FlowMatch")
        or bool(scheduler_config.get("use_flow_sigmas"))
        or scheduler_config.get("prediction_type") == "flow_prediction"
    )


def describe_capabilities(
    family: Family,
    samplers: tuple[str, ...],
    denoiser_config: Mapping[str, Any] | None,
    vae_config: Mapping[str, Any] | None,
) -> Capabilities:
    denoiser = denoiser_config or {}
    scale = vae_scale_factor(vae_config)
    guidance: Guidance = family.guidance
    steps, scale_default = family.default_steps, family.default_guidance
    if family.guidance == "distilled" and denoiser.get("guidance_embeds") is False:
        guidance, steps, scale_default = "none", SCHNELL_STEPS, 0.0
    default_sampler = family.default_sampler
    if default_sampler not in samplers and samplers:
        default_sampler = samplers[0]
    return Capabilities(
        family=family.name,
        samplers=samplers,
        default_sampler=default_sampler,
        default_steps=steps,
        default_guidance=scale_default,
        guidance=guidance,
        negative_prompt=guidance == "cfg",
        loras=family.loras,
        native_size=native_size(family, denoiser, scale),
        size_multiple=max(8, scale * patch_size(family, denoiser)),
        image_inputs=family.image_inputs,
        tiling=family.tiling,
        controlnet=family.controlnet,
        inpaint_only=is_inpainting_denoiser(denoiser),
        latent_upscale=family.latent_inputs,
    )


def is_inpainting_denoiser(denoiser_config: Mapping[str, Any] | None) -> bool:
    """A UNet that takes the masked picture's latents and the mask besides its own
    latents (4 + 4 + 1 channels): a dedicated inpainting model."""
    return (denoiser_config or {}).get("in_channels") == INPAINTING_IN_CHANNELS


INPAINTING_IN_CHANNELS = 9


def vae_scale_factor(vae_config: Mapping[str, Any] | None) -> int:
    """Pixels per latent cell: 8 for the SD/SDXL/Flux VAEs, 32 for Sana's DC-AE."""
    vae = vae_config or {}
    blocks = vae.get("block_out_channels") or vae.get("encoder_block_out_channels")
    return 2 ** (len(blocks) - 1) if blocks else 8


def patch_size(family: Family, denoiser: Mapping[str, Any]) -> int:
    if family.packed_latents:
        return 2
    return int(denoiser.get("patch_size") or 1)


# The pipelines' own default sizes where the denoiser's config does not carry one
# (Flux: `default_sample_size = 128` latent cells).
DEFAULT_SAMPLE_SIZE = 128


def native_size(family: Family, denoiser: Mapping[str, Any], scale: int) -> int:
    """The size the model was trained at: the denoiser's sample size in latent cells ×
    the VAE's scale (512 for SD 1.5, 1024 for SDXL, SD3, Flux, PixArt-Σ and Sana)."""
    sample = denoiser.get("sample_size")
    if isinstance(sample, list | tuple):
        sample = sample[0]
    if not isinstance(sample, int):
        if family.name in ("sd", "sdxl"):
            return 512
        sample = DEFAULT_SAMPLE_SIZE
    return sample * scale
