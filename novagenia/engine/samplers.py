"""Named samplers mapped to diffusers schedulers (swapped with `from_config`, as diffusers
intends), with the labels AUTOMATIC1111 uses so infotexts and compat clients agree.

Not every sampler applies to every model: `samplers_for` reads the model's own scheduler
and denoiser configs and keeps the samplers that can follow its noise schedule: the
DDPM-family set for SD 1.x/2.x, SDXL and PixArt, the flow-matching set for SD3, Flux and
Sana (engine/families.py)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import diffusers

from novagenia.engine.families import is_flow_schedule

ZERO_SNR_OPTION = "rescale_betas_zero_snr"
FLOW_PREDICTION = {"use_flow_sigmas": True, "prediction_type": "flow_prediction"}


@dataclass(frozen=True)
class Sampler:
    name: str
    label: str
    scheduler: str
    options: dict[str, Any] = field(default_factory=dict)
    distilled_only: bool = False  # needs a model distilled for it (LCM)
    flow: bool = False  # follows a flow-matching schedule (SD3, Flux, Sana)

    def make(self, model_config: Mapping[str, Any]) -> Any:
        """A fresh scheduler for one batch: multistep schedulers keep per-run state, so
        an instance is never shared between runs."""
        options = dict(self.options)
        if self.flow:
            # The model's shift, whichever name its own scheduler gives it
            shift = model_config.get("shift", model_config.get("flow_shift", 1.0))
            for name in ("shift", "flow_shift"):
                if _accepts(self.scheduler, name):
                    options[name] = shift
        return self.scheduler_class.from_config(model_config, **options)

    @property
    def scheduler_class(self) -> type:
        return getattr(diffusers, self.scheduler)

    @property
    def karras(self) -> bool:
        return bool(self.options.get("use_karras_sigmas"))

    def applies_to(
        self,
        scheduler_config: Mapping[str, Any],
        unet_config: Mapping[str, Any],
        custom_sigmas: bool = False,
    ) -> bool:
        """`custom_sigmas`: the pipeline hands the scheduler its own sigmas (Flux), which
        only schedulers taking them, or computing flow sigmas themselves, can follow."""
        if self.flow != is_flow_schedule(scheduler_config):
            return False
        if self.flow:
            wanted = {"mu"} if scheduler_config.get("use_dynamic_shifting") else set()
            if custom_sigmas and not self.options.get("use_flow_sigmas"):
                wanted.add("sigmas")
            return all(_takes_in_set_timesteps(self.scheduler, name) for name in wanted)
        if self.distilled_only and not _lcm_distilled(scheduler_config, unet_config):
            return False
        if scheduler_config.get(ZERO_SNR_OPTION):
            # A zero-terminal-SNR model was trained on a schedule that only schedulers
            # implementing the rescale reproduce; Karras sigmas need a finite sigma_max
            # (with an infinite one diffusers repeats timesteps and overruns its sigmas).
            return _accepts(self.scheduler, ZERO_SNR_OPTION) and not self.karras
        return True


SAMPLERS: dict[str, Sampler] = {
    s.name: s
    for s in (
        Sampler("euler", "Euler", "EulerDiscreteScheduler"),
        Sampler("euler_a", "Euler a", "EulerAncestralDiscreteScheduler"),
        Sampler("heun", "Heun", "HeunDiscreteScheduler"),
        Sampler("lms", "LMS", "LMSDiscreteScheduler"),
        Sampler("dpmpp_2m", "DPM++ 2M", "DPMSolverMultistepScheduler"),
        Sampler(
            "dpmpp_2m_karras",
            "DPM++ 2M Karras",
            "DPMSolverMultistepScheduler",
            {"use_karras_sigmas": True},
        ),
        Sampler("dpmpp_sde", "DPM++ SDE", "DPMSolverSinglestepScheduler"),
        Sampler("unipc", "UniPC", "UniPCMultistepScheduler"),
        # Latent diffusion never clips the predicted sample to [-1, 1] (that is for pixel
        # space); with clipping, latents outside that range come out as the wrong picture.
        Sampler("ddim", "DDIM", "DDIMScheduler", {"clip_sample": False}),
        Sampler("pndm", "PLMS", "PNDMScheduler", {"skip_prk_steps": True}),
        Sampler("lcm", "LCM", "LCMScheduler", distilled_only=True),
        Sampler("flow_euler", "Euler (flow)", "FlowMatchEulerDiscreteScheduler", flow=True),
        Sampler("flow_heun", "Heun (flow)", "FlowMatchHeunDiscreteScheduler", flow=True),
        Sampler(
            "flow_dpmpp_2m",
            "DPM++ 2M (flow)",
            "DPMSolverMultistepScheduler",
            FLOW_PREDICTION,
            flow=True,
        ),
        Sampler(
            "flow_unipc", "UniPC (flow)", "UniPCMultistepScheduler", FLOW_PREDICTION, flow=True
        ),
    )
}

# What a client naming a classic sampler (AUTOMATIC1111's "Euler") means on a flow model
FLOW_TWINS = {
    "euler": "flow_euler",
    "heun": "flow_heun",
    "dpmpp_2m": "flow_dpmpp_2m",
    "unipc": "flow_unipc",
}


def get_sampler(name: str) -> Sampler:
    try:
        return SAMPLERS[name]
    except KeyError:
        known = ", ".join(SAMPLERS)
        raise ValueError(f"unknown sampler {name!r}; known: {known}") from None


def samplers_for(
    scheduler_config: Mapping[str, Any] | None,
    unet_config: Mapping[str, Any] | None,
    custom_sigmas: bool = False,
) -> tuple[str, ...]:
    """Names of the samplers that apply to a model with these configs (None: unknown,
    treated as a classic Stable Diffusion schedule)."""
    scheduler_config = scheduler_config or {}
    unet_config = unet_config or {}
    return tuple(
        s.name
        for s in SAMPLERS.values()
        if s.applies_to(scheduler_config, unet_config, custom_sigmas)
    )


def _lcm_distilled(scheduler_config: Mapping[str, Any], unet_config: Mapping[str, Any]) -> bool:
    """LCM-distilled pipelines ship an LCM scheduler; LCM-distilled UNets take the guidance
    scale as an embedding (`time_cond_proj_dim`)."""
    return (
        scheduler_config.get("_class_name") == "LCMScheduler"
        or unet_config.get("time_cond_proj_dim") is not None
    )


@cache
def _accepts(scheduler: str, option: str) -> bool:
    return option in inspect.signature(getattr(diffusers, scheduler).__init__).parameters


@cache
def _takes_in_set_timesteps(scheduler: str, argument: str) -> bool:
    return argument in inspect.signature(getattr(diffusers, scheduler).set_timesteps).parameters
