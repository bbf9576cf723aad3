"""Train the embedded default model ``novagenia/tiny-shapes`` from scratch on CPU.

    python -m training.train_tiny_shapes --out DIR --seed 0 [--minutes N]

The model is the Stable Diffusion architecture at toy size -- ``AutoencoderKL`` (4x
downsampling, 64x64x3 <-> 16x16x4), ``UNet2DConditionModel`` and ``CLIPTextModel`` with a
``CLIPTokenizer`` whose vocabulary is built here -- trained on the procedural data set of
:mod:`novagenia.embedded.shapes` and saved as a standard diffusers ``StableDiffusionPipeline``
(fp16 safetensors). v-prediction with a zero-terminal-SNR schedule and "trailing" timestep
spacing, so the standard samplers (Euler a, Euler, DPM++ 2M, DDIM) can all be used with it.

Phases: (1) the VAE is trained briefly and frozen; (2) the UNet and text encoder are trained
jointly (10% empty prompts, for classifier-free guidance) with AdamW, warmup + cosine decay and
an EMA of the weights. With ``--minutes`` both phases are bounded by wall clock (the VAE gets at
most ``--vae-share`` of it) and the decay follows the fraction of the budget spent, so the step
counts depend on the machine's speed; ``--vae-steps``/``--unet-steps`` give exact step counts
and a step-based schedule, for a deterministic rerun. (3) the EMA weights are saved, the pipeline is
reloaded from disk and judged on random prompts and seeds, and a model card is written.

``--init DIR`` continues from a pipeline saved by an earlier run (its VAE, scaling factor and
tokenizer are kept as they are; the UNet and text encoder train on, with a fresh warmup and decay),
so a model can be trained in several sittings. Each run records its phases in ``DIR/training.json``
and the next run appends to that history.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from novagenia.embedded import shapes
from novagenia.embedded.tokenizer import MAX_LENGTH, build_clip_tokenizer

# ------------------------------------------------------------------------------ tokenizer
EXTRA_WORDS = (
    "an",
    "the",
    "with",
    "and",
    "in",
    "of",
    "shape",
    "picture",
    "image",
    "colour",
    "color",
)


def build_tokenizer():
    return build_clip_tokenizer([*shapes.PROMPT_WORDS, *EXTRA_WORDS])


# ------------------------------------------------------------------------------ models
def make_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=shapes.IMAGE_SIZE,
        mid_block_add_attention=False,
    )


def make_text_encoder(tok):
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = CLIPTextConfig(
        vocab_size=len(tok),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=MAX_LENGTH,
        projection_dim=128,
        hidden_act="quick_gelu",
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return CLIPTextModel(cfg)


def make_unet(channels=(48, 96, 96), cross_dim: int = 128):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=shapes.IMAGE_SIZE // 4,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=tuple(channels),
        layers_per_block=1,
        cross_attention_dim=cross_dim,
        attention_head_dim=4,  # (diffusers quirk: this is the number of heads)
        norm_num_groups=16,
    )


SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    prediction_type="v_prediction",
    rescale_betas_zero_snr=True,
    timestep_spacing="trailing",
    steps_offset=1,
)


def make_scheduler(kind: str = "euler_a", config=None):
    from diffusers import (
        DDIMScheduler,
        DPMSolverMultistepScheduler,
        EulerAncestralDiscreteScheduler,
        EulerDiscreteScheduler,
    )

    cfg = dict(config or SCHEDULER_CONFIG)
    if kind == "euler_a":
        return EulerAncestralDiscreteScheduler.from_config(cfg)
    if kind == "euler":
        return EulerDiscreteScheduler.from_config(cfg)
    if kind == "dpmpp_2m":
        return DPMSolverMultistepScheduler.from_config(
            cfg, algorithm_type="dpmsolver++", solver_order=2
        )
    if kind == "ddim":
        return DDIMScheduler.from_config(cfg, clip_sample=False, set_alpha_to_one=False)
    raise ValueError(kind)


SAMPLERS = ("euler_a", "euler", "dpmpp_2m", "ddim")
SAMPLER_LABELS = {"euler_a": "Euler a", "euler": "Euler", "dpmpp_2m": "DPM++ 2M", "ddim": "DDIM"}
DEFAULT_SAMPLER = "euler_a"


def n_params(m) -> int:
    return sum(p.numel() for p in m.parameters())


def to_pixels(arr: np.ndarray) -> torch.Tensor:
    """uint8 (n, h, w, 3) -> float (n, 3, h, w) in [-1, 1]."""
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cosine_lr(step: int, total: int, peak: float, warmup: int, floor: float = 0.05) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


# ------------------------------------------------------------------------------ training
def train_vae(
    vae,
    rng,
    steps: int,
    batch: int,
    lr: float,
    budget_s: float | None = None,
    kl_weight: float = 1e-6,
):
    """Train the VAE for ``steps`` steps, or until ``budget_s`` seconds have passed."""
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    vae.train()
    t0 = time.time()
    step = 0
    while step < steps:
        elapsed = time.time() - t0
        if budget_s is not None and elapsed > budget_s:
            log(f"vae: time budget reached at step {step}/{steps}")
            break
        # progress is the larger of the step and the time fraction, so the decay always ends
        p_step = max(step, int(steps * elapsed / budget_s)) if budget_s else step
        for g in opt.param_groups:
            g["lr"] = cosine_lr(p_step, steps, lr, warmup=20, floor=0.1)
        arr, _ = shapes.make_batch(rng, batch)
        x = to_pixels(arr)
        post = vae.encode(x).latent_dist
        # Reconstruct from the posterior mean (a near-deterministic autoencoder, which
        # converges far faster than through samples of the initially wide posterior); the
        # diffusion model is trained on, and the pipeline decodes, posterior means too.
        z = post.mode()
        rec = vae.decode(z).sample
        rec_loss = F.l1_loss(rec, x) + F.mse_loss(rec, x)
        kl = post.kl().mean() / z[0].numel()
        loss = rec_loss + kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            log(
                f"vae step {step}/{steps} rec {rec_loss.item():.4f} kl {kl.item():.2f} "
                f"({time.time() - t0:.0f}s)"
            )
        step += 1
    vae.eval()
    vae.requires_grad_(False)
    return step, time.time() - t0


@torch.no_grad()
def encode(vae, arr: np.ndarray) -> torch.Tensor:
    return vae.encode(to_pixels(arr)).latent_dist.mean


def train_unet(unet, text_encoder, tok, vae, rng, args, deadline: float | None):
    from diffusers import DDPMScheduler

    sched = DDPMScheduler.from_config(SCHEDULER_CONFIG)
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, betas=(0.9, 0.99))
    ema_u = copy.deepcopy(unet).requires_grad_(False)
    ema_t = copy.deepcopy(text_encoder).requires_grad_(False)
    ema_pairs = list(zip(list(ema_u.parameters()) + list(ema_t.parameters()), params, strict=True))
    sf = vae.config.scaling_factor
    unet.train()
    text_encoder.train()

    # Exact step count (--unet-steps: reproducible), or train until the deadline; then the
    # cosine decay follows the fraction of the time budget spent (the machine is shared and
    # its speed varies too much to predict a step count).
    total = args.unet_steps
    t0 = time.time()
    budget = None if total is not None else max(1.0, deadline - t0)
    step = 0
    losses = []
    while True:
        if budget is None:
            if step >= total:
                break
            progress = step / total
        else:
            progress = (time.time() - t0) / budget
            if progress >= 1.0:
                log(f"time budget reached at step {step}: stopping")
                break
        lr = args.lr * min(1.0, (step + 1) / args.warmup)
        lr *= 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        for g in opt.param_groups:
            g["lr"] = lr
        arr, samples = shapes.make_batch(rng, args.batch)
        prompts = [s.prompt for s in samples]
        drop = rng.random(args.batch) < args.uncond_p
        prompts = ["" if d else p for p, d in zip(prompts, drop, strict=True)]
        ids = tok(
            prompts,
            padding="max_length",
            max_length=MAX_LENGTH,
            truncation=True,
            return_tensors="pt",
        ).input_ids
        lat = encode(vae, arr) * sf
        noise = torch.randn_like(lat)
        t = torch.randint(0, sched.config.num_train_timesteps, (args.batch,))
        noisy = sched.add_noise(lat, noise, t)
        target = sched.get_velocity(lat, noise, t)
        emb = text_encoder(ids)[0]
        pred = unet(noisy, t, encoder_hidden_states=emb).sample
        loss = F.mse_loss(pred, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in ema_pairs:
                e.lerp_(p, 1 - decay)
        losses.append(loss.item())
        if step % 50 == 0:
            log(
                f"unet step {step} ({100 * progress:.0f} %) loss "
                f"{np.mean(losses[-50:]):.4f} lr {lr:.2e} ({time.time() - t0:.0f}s)"
            )
        step += 1
    return ema_u.eval(), ema_t.eval(), step, time.time() - t0, float(np.mean(losses[-100:]))


# ------------------------------------------------------------------------------ evaluation
def evaluate(
    model_dir,
    n: int,
    seed: int,
    samplers=(DEFAULT_SAMPLER,),
    guidance: float = 6.0,
    steps: int = 20,
    batch: int = 16,
    save_grid: str | None = None,
) -> dict:
    """Load the saved pipeline from disk and judge ``n`` random prompts x seeds per sampler."""
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(
        model_dir, torch_dtype=torch.float32, use_safetensors=True
    )
    pipe.set_progress_bar_config(disable=True)
    rng = np.random.default_rng(10_000 + seed)
    cases = []
    for i in range(n):
        s = shapes.random_sample(rng)
        cases.append((s.colour, s.shape, s.background, 1000 * seed + i))
    results = {}
    base_cfg = pipe.scheduler.config
    for kind in samplers:
        pipe.scheduler = make_scheduler(kind, base_cfg)
        ok = np.zeros(3)
        per_combo_fail = []
        images = []
        t0 = time.time()
        for b in range(0, n, batch):
            chunk = cases[b : b + batch]
            prompts = [shapes.prompt_for(c, s, bg) for c, s, bg, _ in chunk]
            gens = [torch.Generator().manual_seed(sd) for *_, sd in chunk]
            out = pipe(
                prompt=prompts,
                num_inference_steps=steps,
                guidance_scale=guidance,
                generator=gens,
                height=64,
                width=64,
            ).images
            for (c, s, bg, _), im in zip(chunk, out, strict=True):
                got = shapes.judge(im)
                hit = np.array([got[0] == bg, got[1] == c, got[2] == s], dtype=float)
                ok += hit
                if not hit.all():
                    per_combo_fail.append(((bg, c, s), got))
                images.append(im)
        acc = ok / n
        results[kind] = {
            "background": float(acc[0]),
            "colour": float(acc[1]),
            "shape": float(acc[2]),
            "n": n,
            "seconds": time.time() - t0,
            "failures": per_combo_fail[:20],
        }
        log(
            f"eval {kind}: bg {acc[0]:.3f} colour {acc[1]:.3f} shape {acc[2]:.3f} (n={n}, "
            f"{time.time() - t0:.0f}s)"
        )
        if save_grid and kind == samplers[0]:
            from PIL import Image

            k = min(len(images), 64)
            grid = Image.new("RGB", (8 * 64, ((k + 7) // 8) * 64))
            for j, im in enumerate(images[:k]):
                grid.paste(im, ((j % 8) * 64, (j // 8) * 64))
            grid.save(save_grid)
    return results


# ------------------------------------------------------------------------------ saving
def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


TRAINING_LOG = "training.json"


def load_init(model_dir: Path):
    """The components and training history of a pipeline saved by an earlier run (float32)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(
        model_dir, torch_dtype=torch.float32, use_safetensors=True
    )
    log_file = model_dir / TRAINING_LOG
    history = json.loads(log_file.read_text())["runs"] if log_file.exists() else []
    pipe.vae.eval().requires_grad_(False)
    return pipe.tokenizer, pipe.vae, pipe.text_encoder, pipe.unet, history


def save_pipeline(out: Path, vae, text_encoder, tok, unet):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tok,
        unet=unet,
        scheduler=make_scheduler(DEFAULT_SAMPLER),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.to(torch.float16)
    pipe.save_pretrained(out, safe_serialization=True)


def write_card(out: Path, info: dict) -> None:
    r = info["eval"]
    d = r[DEFAULT_SAMPLER]
    rows = "\n".join(
        f"| {SAMPLER_LABELS[k]} | {v['n']} | {100 * v['background']:.1f} % | "
        f"{100 * v['colour']:.1f} % | {100 * v['shape']:.1f} % |"
        for k, v in r.items()
    )
    p = info["params"]
    training = "\n".join(
        f"{i + 1}. `python -m training.train_tiny_shapes --out DIR --seed {r['seed']} "
        + ("--init DIR " if r["init"] else f"--vae-steps {r['vae_steps']} ")
        + f"--unet-steps {r['unet_steps']} --batch {r['batch']} --lr {r['lr']:g} "
        f"--warmup {r['warmup']}`: {r['unet_steps']} UNet steps, {(r['vae_seconds'] + r['unet_seconds']) / 60:.1f} min, "
        f"final loss {r['final_loss']:.4f}"
        for i, r in enumerate(info["history"])
    )
    card = f"""---
library_name: diffusers
pipeline_tag: text-to-image
license: apache-2.0
tags: [stable-diffusion, tiny, procedural-data, novagenia]
---

# novagenia/tiny-shapes

The embedded default model of NovaGenIA: a real, if tiny, text-to-image model that needs no
network. It is the Stable Diffusion architecture (a `StableDiffusionPipeline`) at toy size,
trained from scratch on CPU on a procedural data set, and it draws

    a {{colour}} {{shape}} on a {{colour}} background

at 64x64 pixels, where colour is one of {", ".join(shapes.COLOUR_NAMES)} and shape one of
{", ".join(shapes.SHAPES)}. Anything else gives some coloured shape.

## Use

```python
import torch
from diffusers import DiffusionPipeline

pipe = DiffusionPipeline.from_pretrained(
    "novagenia/embedded/tiny-shapes", torch_dtype=torch.float32, use_safetensors=True
)
image = pipe(
    "a red square on a white background",
    num_inference_steps=20,
    guidance_scale=6.0,
    generator=torch.manual_seed(0),
).images[0]  # 64x64
```

Native size 64x64 (UNet `sample_size` 16, VAE factor 4). The scheduler is v-prediction with
zero terminal SNR (`rescale_betas_zero_snr`) and `timestep_spacing="trailing"`; Euler a
(default), Euler, DPM++ 2M and DDIM built `from_config` of the saved scheduler all work, at
~20 steps and CFG 5-7.

## Data

`novagenia.embedded.shapes`: pictures drawn on the fly (numpy/PIL, seeded, no data files):
a flat {shapes.MIN_SIZE}-{shapes.MAX_SIZE} px circle, square or upright isosceles triangle, at a
random position at least {shapes.MARGIN} px inside the frame, on a flat background of another
colour. 8 colours x 3 shapes x 7 backgrounds = 168 prompts. Palette (RGB):
{", ".join(f"{k} {v}" for k, v in shapes.COLOURS.items())}.

## Architecture

| component | what | parameters |
|---|---|---|
| VAE | `AutoencoderKL`, channels (16, 32, 64), 1 layer/block, 4x downsampling, 4 latent channels, scaling factor {info["scaling_factor"]:.4f} | {p["vae"]:,} |
| UNet | `UNet2DConditionModel`, 16x16x4 latents, channels {tuple(info["unet_channels"])}, cross-attention at 16x16 and 8x8 (+ mid 4x4) | {p["unet"]:,} |
| text encoder | `CLIPTextModel`, 2 layers, width 128, 4 heads, 77 positions | {p["text_encoder"]:,} |
| tokenizer | `CLIPTokenizer`, byte-level BPE built by the training script; every prompt word is one token | {info["vocab_size"]} tokens |

Total {sum(p.values()):,} parameters, stored as fp16 safetensors: {info["size_mb"]:.2f} MB on disk
(whole folder).

## Training

{training}

- {info["threads"]} CPU threads ({info["machine"]}), no GPU; torch {torch.__version__}.
- VAE: {info["vae_steps"]} steps, batch {info["vae_batch"]}, L1+MSE + 1e-6 KL, AdamW, then frozen
  ({info["vae_seconds"] / 60:.1f} min); reconstructions: mean abs error
  {info["vae_mae"]:.1f}/255, judged correctly {100 * info["vae_judge"]:.0f} % (64 pictures).
- UNet + text encoder jointly: {info["unet_steps"]} steps in all, batch {info["batch"]} (fresh
  pictures every step), v-prediction MSE, {int(100 * info["uncond_p"])} % empty prompts (for CFG),
  AdamW with warmup and cosine decay in each run, grad-norm clip 1, EMA {info["ema"]} of the
  weights (the EMA weights are saved); final loss {info["final_loss"]:.4f}
  ({info["unet_seconds"] / 60:.1f} min).
- Total wall clock {info["total_seconds"] / 60:.1f} min (under `nice`, on a shared machine).
  `training.json` beside the weights holds each run's figures.

## Measured quality

The saved fp16 pipeline, loaded back in float32, on random prompts of the data set with random
seeds, 20 steps, CFG {info["guidance"]}, 64x64; each picture judged by
`novagenia.embedded.shapes.judge` (background = border median colour, shape colour = median of
the differing pixels, shape from the fill of its bounding box; nearest palette colour):

| sampler | samples | background | shape colour | shape |
|---|---|---|---|---|
{rows}

Default sampler ({SAMPLER_LABELS[DEFAULT_SAMPLER]}): {100 * d["background"]:.1f} % / {100 * d["colour"]:.1f} % / {100 * d["shape"]:.1f} %
(background / shape colour / shape) on {d["n"]} samples.

## Limitations

A toy: 64x64, 8 colours, 3 shapes, one shape per picture; it knows nothing else. Small shapes
and circle/triangle at soft edges are the usual mistakes.
"""
    (out / "README.md").write_text(card)


# ------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--minutes",
        type=float,
        default=55.0,
        help="wall-clock budget for the training (VAE + UNet), excluding evaluation",
    )
    ap.add_argument("--vae-steps", type=int, default=800)
    ap.add_argument("--vae-batch", type=int, default=16)
    ap.add_argument("--vae-lr", type=float, default=1e-3)
    ap.add_argument(
        "--unet-steps",
        type=int,
        default=None,
        help="exact UNet step count (default: as many as fit in --minutes)",
    )
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--warmup", type=int, default=80)
    ap.add_argument("--ema", type=float, default=0.998)
    ap.add_argument("--uncond-p", type=float, default=0.1)
    ap.add_argument("--channels", type=int, nargs=3, default=[48, 96, 96])
    ap.add_argument(
        "--vae-share",
        type=float,
        default=0.2,
        help="at most this fraction of --minutes goes to the VAE",
    )
    ap.add_argument("--eval-n", type=int, default=128)
    ap.add_argument("--eval-n-other", type=int, default=48)
    ap.add_argument("--guidance", type=float, default=6.0)
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument(
        "--init",
        default=None,
        help="continue training the pipeline saved in this folder (its VAE stays frozen)",
    )
    args = ap.parse_args(argv)

    out = Path(args.out)
    if args.eval_only:
        res = evaluate(out, args.eval_n, args.seed, samplers=SAMPLERS, guidance=args.guidance)
        print(
            json.dumps(
                {k: {kk: vv for kk, vv in v.items() if kk != "failures"} for k, v in res.items()},
                indent=1,
            )
        )
        return 0

    t_start = time.time()
    deadline = t_start + 60.0 * args.minutes
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    threads = torch.get_num_threads()
    log(f"seed {args.seed}, {threads} threads, budget {args.minutes} min")

    if args.init:
        tok, vae, text_encoder, unet, history = load_init(Path(args.init))
        vae_steps, vae_s = 0, 0.0
        log(f"continuing from {args.init} ({sum(r['unet_steps'] for r in history)} UNet steps)")
    else:
        tok = build_tokenizer()
        vae = make_vae()
        text_encoder = make_text_encoder(tok)
        unet = make_unet(args.channels, text_encoder.config.hidden_size)
        history = []
        vae_steps, vae_s = train_vae(
            vae,
            rng,
            args.vae_steps,
            args.vae_batch,
            args.vae_lr,
            budget_s=None if args.unet_steps is not None else args.vae_share * 60.0 * args.minutes,
        )
        arr, _ = shapes.make_batch(rng, 256)
        std = encode(vae, arr).std().item()
        vae.register_to_config(scaling_factor=1.0 / std)
        log(f"latent std {std:.4f} -> scaling_factor {1.0 / std:.4f}")
    params = {"vae": n_params(vae), "unet": n_params(unet), "text_encoder": n_params(text_encoder)}
    log(f"params {params}")
    with torch.no_grad():
        arr, samples = shapes.make_batch(rng, 64)
        rec = vae.decode(encode(vae, arr)).sample
        rec = ((rec.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    vae_ok = np.mean(
        [
            shapes.judge(r) == (s.background, s.colour, s.shape)
            for r, s in zip(rec, samples, strict=True)
        ]
    )
    vae_mae = float(np.abs(rec.astype(float) - arr).mean())
    log(f"VAE reconstructions: judge {vae_ok:.3f}, mean abs error {vae_mae:.2f}/255")

    ema_u, ema_t, steps, unet_s, final_loss = train_unet(
        unet, text_encoder, tok, vae, rng, args, deadline if args.unet_steps is None else None
    )
    total_s = time.time() - t_start
    log(f"training done: {steps} UNet steps, {total_s / 60:.1f} min")

    history.append(
        {
            "init": args.init,
            "seed": args.seed,
            "minutes": args.minutes,
            "vae_steps": vae_steps,
            "vae_seconds": round(vae_s, 1),
            "unet_steps": steps,
            "unet_seconds": round(unet_s, 1),
            "batch": args.batch,
            "lr": args.lr,
            "warmup": args.warmup,
            "final_loss": round(final_loss, 4),
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    save_pipeline(out, vae, ema_t, tok, ema_u)
    (out / TRAINING_LOG).write_text(json.dumps({"runs": history}, indent=1) + "\n")
    size = dir_size(out)
    log(f"saved to {out}: {size / 1e6:.2f} MB")

    res = evaluate(
        out,
        args.eval_n,
        args.seed,
        samplers=(DEFAULT_SAMPLER,),
        guidance=args.guidance,
        save_grid=str(out.parent / f"{out.name}-grid.png"),
    )
    others = [s for s in SAMPLERS if s != DEFAULT_SAMPLER]
    res.update(evaluate(out, args.eval_n_other, args.seed, samplers=others, guidance=args.guidance))
    info = {
        "seed": args.seed,
        "minutes": args.minutes,
        "threads": threads,
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "params": params,
        "vocab_size": len(tok),
        "scaling_factor": vae.config.scaling_factor,
        "unet_channels": list(unet.config.block_out_channels),
        "history": history,
        "vae_steps": sum(r["vae_steps"] for r in history),
        "vae_batch": args.vae_batch,
        "vae_seconds": sum(r["vae_seconds"] for r in history),
        "vae_judge": float(vae_ok),
        "vae_mae": vae_mae,
        "unet_steps": sum(r["unet_steps"] for r in history),
        "batch": args.batch,
        "uncond_p": args.uncond_p,
        "lr": args.lr,
        "warmup": args.warmup,
        "ema": args.ema,
        "final_loss": final_loss,
        "unet_seconds": sum(r["unet_seconds"] for r in history),
        "total_seconds": sum(r["vae_seconds"] + r["unet_seconds"] for r in history),
        "size_mb": size / 1e6,
        "guidance": args.guidance,
        "eval": res,
    }
    write_card(out, info)
    (out.parent / f"{out.name}-train-info.json").write_text(json.dumps(info, indent=1, default=str))
    log(f"final size {dir_size(out) / 1e6:.2f} MB; done in {(time.time() - t_start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
