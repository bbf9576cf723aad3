"""`speed: fast`: step caching with diffusers' Pyramid Attention Broadcast hooks.

Between neighbouring denoising steps attention outputs change little, so in the middle of
the schedule every other step reuses each attention layer's previous output instead of
computing it again (self- and cross-attention alike). The first fifth and the last tenth
of the steps, which lay out the composition and the fine detail, always run in full.

PAB is the one diffusers cache hook that attaches to any diffusers attention layer, so it
serves every family alike: the UNets of SD 1.x/2.x and SDXL as well as the transformers
of SD3, Flux, PixArt and Sana (first-block cache and its kin need a model that declares
its transformer blocks, which no UNet does). Its skip window is given in timesteps; the
schedule position stands in for them here (1000 at the first step, 0 after the last), as
flow-matching and DDPM-family schedulers count timesteps differently.

Hooks are attached for one pipeline call and removed after it, so a `quality` batch on
the same replica runs the untouched model.

Measured on the embedded model (2026-12-05): see `bench/results/2026-12-05-speed.md`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from diffusers.hooks import (
    HookRegistry,
    PyramidAttentionBroadcastConfig,
    apply_pyramid_attention_broadcast,
)
from diffusers.hooks.pyramid_attention_broadcast import _PYRAMID_ATTENTION_BROADCAST_HOOK

# Schedule positions (1000 → 0) in which attention is reused every other step.
REUSE_WINDOW = (100, 800)
REUSE_EVERY = 2


class StepCacheUnavailable(Exception):
    """The model has no attention layer the cache can attach to."""


@dataclass
class ScheduleClock:
    """Where the running pipeline call is in its schedule; the step callback moves it."""

    steps: int
    done: int = 0

    def position(self) -> float:
        return 1000.0 * (1 - self.done / self.steps)

    def follow(self, on_step: Callable[[int, torch.Tensor], None]):
        """`on_step` (1-based step, latents) that also moves the clock."""

        def moved(step: int, latents: torch.Tensor) -> None:
            self.done = step
            on_step(step, latents)

        return moved


def attached_layers(denoiser: torch.nn.Module) -> int:
    return sum(
        1
        for module in denoiser.modules()
        if getattr(module, "_diffusers_hook", None) is not None
        and module._diffusers_hook.get_hook(_PYRAMID_ATTENTION_BROADCAST_HOOK) is not None
    )


@contextmanager
def step_cache(denoiser: torch.nn.Module, steps: int) -> Iterator[ScheduleClock]:
    """Attention reuse on `denoiser` for one pipeline call of `steps` steps; advance the
    yielded clock's `done` from the step callback."""
    clock = ScheduleClock(steps)
    config = PyramidAttentionBroadcastConfig(
        spatial_attention_block_skip_range=REUSE_EVERY,
        spatial_attention_timestep_skip_range=REUSE_WINDOW,
        cross_attention_block_skip_range=REUSE_EVERY,
        cross_attention_timestep_skip_range=REUSE_WINDOW,
        current_timestep_callback=clock.position,
    )
    apply_pyramid_attention_broadcast(denoiser, config)
    try:
        if not attached_layers(denoiser):
            raise StepCacheUnavailable(
                f"speed 'fast' does not apply to this model: {type(denoiser).__name__} has no "
                "diffusers attention layer to cache"
            )
        yield clock
    finally:
        HookRegistry.check_if_exists_or_initialize(denoiser).remove_hook(
            _PYRAMID_ATTENTION_BROADCAST_HOOK, recurse=True
        )
