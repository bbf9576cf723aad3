"""Which samplers apply to which model, read from the model's own configs."""

from __future__ import annotations

import json

import pytest
import torch

from novagenia.embedded import EMBEDDED_DIR
from novagenia.engine.samplers import SAMPLERS, get_sampler, samplers_for

CLASSIC = {"_class_name": "PNDMScheduler", "beta_schedule": "scaled_linear"}
ZERO_SNR = {"_class_name": "EulerAncestralDiscreteScheduler", "rescale_betas_zero_snr": True}


def test_a_classic_schedule_offers_every_sampler_but_lcm():
    assert samplers_for(CLASSIC, {}) == tuple(name for name in SAMPLERS if name != "lcm")
    assert samplers_for(None, None) == samplers_for(CLASSIC, {})


def test_lcm_needs_an_lcm_distilled_model():
    assert "lcm" in samplers_for({"_class_name": "LCMScheduler"}, {})
    assert "lcm" in samplers_for(CLASSIC, {"time_cond_proj_dim": 256})


def test_zero_terminal_snr_keeps_only_schedulers_that_rescale():
    offered = samplers_for(ZERO_SNR, {})
    assert offered == ("euler", "euler_a", "dpmpp_2m", "unipc", "ddim")
    for name in offered:
        scheduler = get_sampler(name).make(ZERO_SNR)
        assert scheduler.config.rescale_betas_zero_snr


@pytest.mark.parametrize("name", ["dpmpp_2m", "unipc", "ddim", "euler"])
def test_a_fresh_scheduler_never_inherits_another_samplers_options(name):
    config = json.loads((EMBEDDED_DIR / "tiny-shapes/scheduler/scheduler_config.json").read_text())
    karras = get_sampler("dpmpp_2m_karras").make(config)
    assert karras.config.use_karras_sigmas
    fresh = get_sampler(name).make(config)
    assert not fresh.config.get("use_karras_sigmas", False)
    fresh.set_timesteps(25)
    assert len(torch.unique(fresh.timesteps)) == 25  # distinct steps: no index overrun


def test_ddim_never_clips_latents():
    assert get_sampler("ddim").make(CLASSIC).config.clip_sample is False
