"""Which samplers apply to which model, read from the model's own configs."""

from __future__ import annotations

import json

import pytest
import torch

from novagenia.embedded import EMBEDDED_DIR
from novagenia.engine.samplers import SAMPLERS, get_sampler, samplers_for
from tests.tiny_families import FLOW_SCHEDULER as FLOW
from tests.tiny_families import FLUX_SCHEDULER as FLUX
from tests.tiny_families import SANA_SCHEDULER as SANA

CLASSIC = {"_class_name": "PNDMScheduler", "beta_schedule": "scaled_linear"}
ZERO_SNR = {"_class_name": "EulerAncestralDiscreteScheduler", "rescale_betas_zero_snr": True}


def test_a_classic_schedule_offers_every_classic_sampler_but_lcm():
    classic = tuple(name for name, s in SAMPLERS.items() if not s.flow and name != "lcm")
    assert samplers_for(CLASSIC, {}) == classic
    assert samplers_for(None, None) == samplers_for(CLASSIC, {})


@pytest.mark.parametrize("config", [FLOW, SANA], ids=["flow-match", "flow-sigmas"])
def test_a_flow_schedule_offers_only_flow_samplers(config):
    assert samplers_for(config, {}) == ("flow_euler", "flow_heun", "flow_dpmpp_2m", "flow_unipc")


def test_a_pipeline_with_its_own_sigmas_drops_schedulers_that_cannot_take_them():
    # Flux hands the scheduler sigmas and a dynamic shift; Heun's set_timesteps takes neither
    assert samplers_for(FLUX, {}, custom_sigmas=True) == (
        "flow_euler",
        "flow_dpmpp_2m",
        "flow_unipc",
    )


@pytest.mark.parametrize("config", [FLOW, SANA], ids=["shift", "flow_shift"])
@pytest.mark.parametrize("name", ["flow_euler", "flow_dpmpp_2m", "flow_unipc"])
def test_a_flow_sampler_keeps_the_models_shift(name, config):
    scheduler = get_sampler(name).make(config)
    assert scheduler.config.get("shift", scheduler.config.get("flow_shift")) == 3.0


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
