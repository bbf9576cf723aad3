"""Named samplers mapped to diffusers schedulers (swapped with `from_config`, as diffusers
intends), with the labels AUTOMATIC1111 uses so infotexts and compat clients agree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import diffusers


@dataclass(frozen=True)
class Sampler:
    name: str
    label: str
    scheduler: str
    options: dict[str, Any] = field(default_factory=dict)

    def make(self, base_config: Any) -> Any:
        cls = getattr(diffusers, self.scheduler)
        return cls.from_config(base_config, **self.options)


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
        Sampler("ddim", "DDIM", "DDIMScheduler"),
        Sampler("pndm", "PLMS", "PNDMScheduler"),
        Sampler("lcm", "LCM", "LCMScheduler"),
    )
}

DEFAULT_SAMPLER = "euler_a"


def get_sampler(name: str) -> Sampler:
    try:
        return SAMPLERS[name]
    except KeyError:
        known = ", ".join(SAMPLERS)
        raise ValueError(f"unknown sampler {name!r}; known: {known}") from None
