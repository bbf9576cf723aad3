"""Train the embedded ControlNet ``novagenia/tiny-shapes-canny`` for ``tiny-shapes`` on CPU.

    python -m training.train_tiny_controlnet --out DIR [--minutes N | --steps N] [--seed S]

A ``ControlNetModel`` made from the embedded model's UNet (``ControlNetModel.from_unet``:
its encoder copied, zero convolutions on every residual), conditioned on the Canny edges
(`novagenia.controlnet.preprocessors.Canny`, the server's own preprocessor at its default
thresholds) of the procedural pictures of `novagenia.embedded.shapes`. The UNet, text
encoder and VAE stay frozen; the loss is the model's v-prediction MSE, as in
`training.train_tiny_shapes`. 10 % of the prompts are empty, as the model was trained, so
the ControlNet also guides the unconditional half of classifier-free guidance.

It is judged by where the drawn shape lands: for random prompts and shape positions, the
overlap (IoU) between the shape in the generated picture and the shape whose edges were
given, with and without the ControlNet, and whether the colour and shape are right. The
weights are saved as fp16 safetensors with a model card and ``training.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from novagenia.controlnet.preprocessors import Canny
from novagenia.embedded import shapes
from novagenia.embedded.tokenizer import MAX_LENGTH
from training.train_tiny_shapes import SCHEDULER_CONFIG, encode, log, n_params

BASE_MODEL = Path(__file__).resolve().parent.parent / "novagenia/embedded/tiny-shapes"
EDGES = Canny()


def control_maps(arr: np.ndarray) -> torch.Tensor:
    """uint8 pictures (n, h, w, 3) -> their edge maps as float (n, 3, h, w) in [0, 1],
    what diffusers' ControlNet pipelines feed the model."""
    from PIL import Image

    maps = np.stack([np.asarray(EDGES.run(Image.fromarray(a))) for a in arr])
    return torch.from_numpy(maps).permute(0, 3, 1, 2).float().div(255.0)


def load_base():
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(
        BASE_MODEL, torch_dtype=torch.float32, use_safetensors=True
    )
    for part in (pipe.vae, pipe.text_encoder, pipe.unet):
        part.eval().requires_grad_(False)
    return pipe


def train(pipe, controlnet, args) -> dict:
    from diffusers import DDPMScheduler

    sched = DDPMScheduler.from_config(SCHEDULER_CONFIG)
    opt = torch.optim.AdamW(controlnet.parameters(), lr=args.lr, weight_decay=0.0)
    rng = np.random.default_rng(args.seed)
    sf = pipe.vae.config.scaling_factor
    controlnet.train()
    t0 = time.time()
    budget = None if args.steps else args.minutes * 60
    step, losses = 0, []
    while True:
        progress = step / args.steps if args.steps else (time.time() - t0) / budget
        if progress >= 1.0:
            break
        lr = args.lr * min(1.0, (step + 1) / args.warmup)
        lr *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
        for group in opt.param_groups:
            group["lr"] = lr
        arr, samples = shapes.make_batch(rng, args.batch)
        drop = rng.random(args.batch) < args.uncond_p
        prompts = ["" if d else s.prompt for s, d in zip(samples, drop, strict=True)]
        ids = pipe.tokenizer(
            prompts,
            padding="max_length",
            max_length=MAX_LENGTH,
            truncation=True,
            return_tensors="pt",
        ).input_ids
        with torch.no_grad():
            lat = encode(pipe.vae, arr) * sf
            emb = pipe.text_encoder(ids)[0]
        noise = torch.randn_like(lat)
        t = torch.randint(0, sched.config.num_train_timesteps, (args.batch,))
        noisy = sched.add_noise(lat, noise, t)
        down, mid = controlnet(
            noisy,
            t,
            encoder_hidden_states=emb,
            controlnet_cond=control_maps(arr),
            return_dict=False,
        )
        pred = pipe.unet(
            noisy,
            t,
            encoder_hidden_states=emb,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
        ).sample
        loss = F.mse_loss(pred, sched.get_velocity(lat, noise, t))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(controlnet.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if step % 25 == 0:
            log(
                f"step {step} ({100 * progress:.0f} %) loss {np.mean(losses[-25:]):.4f} "
                f"lr {lr:.1e} ({time.time() - t0:.0f}s)"
            )
        step += 1
    controlnet.eval()
    return {
        "steps": step,
        "seconds": round(time.time() - t0, 1),
        "final_loss": round(float(np.mean(losses[-50:])), 4),
    }


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 0.0


@torch.no_grad()
def evaluate(pipe, controlnet, n: int, seed: int, batch: int = 16) -> dict:
    """IoU of generated vs given shape, and judged colour/shape, with and without it."""
    from diffusers import StableDiffusionControlNetPipeline
    from PIL import Image

    guided = StableDiffusionControlNetPipeline.from_pipe(pipe, controlnet=controlnet)
    for p in (pipe, guided):
        p.set_progress_bar_config(disable=True)
    rng = np.random.default_rng(10_000 + seed)
    samples = [shapes.random_sample(rng) for _ in range(n)]
    scores = {"with": [], "without": []}
    for start in range(0, n, batch):
        chunk = samples[start : start + batch]
        truth = [shapes.draw(s) for s in chunk]
        maps = [EDGES.run(picture) for picture in truth]
        common = dict(
            prompt=[s.prompt for s in chunk],
            num_inference_steps=20,
            guidance_scale=6.0,
            height=64,
            width=64,
        )
        runs = {
            "with": guided(
                image=maps,
                generator=[
                    torch.Generator().manual_seed(i) for i in range(start, start + len(chunk))
                ],
                **common,
            ).images,
            "without": pipe(
                generator=[
                    torch.Generator().manual_seed(i) for i in range(start, start + len(chunk))
                ],
                **common,
            ).images,
        }
        for key, images in runs.items():
            for sample, picture, image in zip(chunk, truth, images, strict=True):
                got = shapes.analyse(image)["mask"]
                want = shapes.analyse(picture)["mask"]
                _, colour, shape = shapes.judge(image)
                scores[key].append((iou(got, want), colour == sample.colour, shape == sample.shape))
        if start == 0:
            grid = Image.new("RGB", (64 * 8, 64 * 3))
            for j in range(min(8, len(chunk))):
                grid.paste(maps[j], (64 * j, 0))
                grid.paste(runs["with"][j], (64 * j, 64))
                grid.paste(runs["without"][j], (64 * j, 128))
            grid.save(Path(args_out) / "samples.png")
    result = {}
    for key, rows in scores.items():
        a = np.array(rows, dtype=float)
        result[key] = {
            "n": n,
            "mean_iou": round(float(a[:, 0].mean()), 3),
            "iou_over_half": round(float((a[:, 0] > 0.5).mean()), 3),
            "colour": round(float(a[:, 1].mean()), 3),
            "shape": round(float(a[:, 2].mean()), 3),
        }
        log(f"eval {key} ControlNet: {result[key]}")
    return result


def write_card(out: Path, info: dict) -> None:
    w, wo = info["eval"]["with"], info["eval"]["without"]
    runs = "\n".join(
        f"{i + 1}. `python -m training.train_tiny_controlnet --out DIR --steps {r['steps']} "
        f"--batch {r['batch']} --lr {r['lr']:g} --seed {r['seed']}`: {r['steps']} steps, "
        f"{r['seconds'] / 60:.1f} min, final loss {r['final_loss']:.4f}"
        for i, r in enumerate(info["runs"])
    )
    (out / "README.md").write_text(f"""---
library_name: diffusers
base_model: novagenia/tiny-shapes
tags: [controlnet, canny, tiny, procedural-data, novagenia]
license: apache-2.0
---

# novagenia/tiny-shapes-canny

A ControlNet for the embedded model `novagenia/tiny-shapes`, conditioned on Canny edges:
given the edge map of a shape, the model draws its shape where the edges are. It is
`ControlNetModel.from_unet` of the model's UNet ({info["parameters"]:,} parameters, fp16
safetensors, {info["size_kb"]} kB), trained on CPU by `training/train_tiny_controlnet.py`.

## Use

```python
pipe = StableDiffusionControlNetPipeline.from_pretrained(
    "novagenia/embedded/tiny-shapes",
    controlnet=ControlNetModel.from_pretrained("novagenia/embedded/tiny-shapes-canny"),
)
edges = Canny().run(picture)  # novagenia.controlnet.preprocessors, thresholds 100/200
image = pipe("a red circle on a white background", image=edges).images[0]
```

In NovaGenIA: a job's `controlnet` unit with `model: "novagenia/tiny-shapes-canny"` and
`preprocessor: "canny"`.

## Training

{runs}

The UNet, text encoder and VAE frozen; {info["threads"]} CPU threads; fresh pictures
every step (`novagenia.embedded.shapes`), their edges by the server's own `canny`
preprocessor; v-prediction MSE; {int(100 * info["uncond_p"])} % empty prompts; AdamW,
warmup then cosine decay; gradient-norm clip 1.

## Measured

{w["n"]} random prompts and shape positions (seeds 0…{w["n"] - 1}), Euler a, 20 steps,
CFG 6; the shape found in each picture (`shapes.analyse`) against the shape whose edges
were given:

| | mean IoU | IoU > 0.5 | colour right | shape right |
|---|---|---|---|---|
| with the ControlNet | {w["mean_iou"]:.3f} | {100 * w["iou_over_half"]:.0f} % | {100 * w["colour"]:.0f} % | {100 * w["shape"]:.0f} % |
| without (same seeds) | {wo["mean_iou"]:.3f} | {100 * wo["iou_over_half"]:.0f} % | {100 * wo["colour"]:.0f} % | {100 * wo["shape"]:.0f} % |

`samples.png`: edge maps (top), with the ControlNet (middle), without (bottom).
""")


args_out = "."


def main(argv=None) -> int:
    global args_out
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=25.0)
    ap.add_argument("--steps", type=int, default=None, help="exact step count (reproducible)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--uncond-p", type=float, default=0.1)
    ap.add_argument("--eval-n", type=int, default=64)
    args = ap.parse_args(argv)
    from diffusers import ControlNetModel

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    args_out = str(out)
    torch.manual_seed(args.seed)
    pipe = load_base()
    controlnet = ControlNetModel.from_unet(
        pipe.unet,
        conditioning_embedding_out_channels=(16, 32, 64),  # 64 px -> 16 latents
    )
    log(f"ControlNet: {n_params(controlnet):,} parameters")
    run = train(pipe, controlnet, args)
    run.update(batch=args.batch, lr=args.lr, seed=args.seed)
    controlnet.to(torch.float16).save_pretrained(out, safe_serialization=True)
    controlnet = ControlNetModel.from_pretrained(out, torch_dtype=torch.float32)
    result = evaluate(pipe, controlnet, args.eval_n, args.seed)
    info = {
        "runs": [run],
        "eval": result,
        "parameters": n_params(controlnet),
        "threads": torch.get_num_threads(),
        "uncond_p": args.uncond_p,
        "size_kb": round((out / "diffusion_pytorch_model.safetensors").stat().st_size / 1024),
    }
    (out / "training.json").write_text(json.dumps(info, indent=1))
    write_card(out, info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
