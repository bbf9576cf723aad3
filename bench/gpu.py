"""Full-size Stable Diffusion 1.5, SDXL and SD3 medium architectures (random weights,
built from their published configs: speed does not depend on the weights' values, and nothing is
downloaded), run direct and served on CUDA. Prints seconds per image, images/s, served
vs direct, and the fraction of the physical floor reached: FLOPs per image (counted
with torch's FlopCounterMode: text encoding, every UNet step with CFG, VAE decode)
divided by the GPU's dense bf16/fp16 peak. SD3 runs without its optional T5 encoder
(diffusers feeds zeros in its place): the 2B transformer is what a step costs.

    python -m bench.gpu [--arch sd15 sdxl sd3] [--batch-sizes 1 4 8] [--steps 20]
    python -m bench.gpu --device cpu --arch sd15 --size 64 --steps 2 --batch-sizes 1   # smoke check
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    SD3Transformer2DModel,
    StableDiffusion3Pipeline,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from torch.utils.flop_counter import FlopCounterMode
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from bench.common import served_seconds_per_image
from novagenia.embedded.tokenizer import build_clip_tokenizer
from tests.served import served_app

# Dense bf16/fp16 tensor-core peaks (TFLOP/s, no sparsity), by substring of the GPU name.
PEAK_TFLOPS = {
    "H200": 989,
    "H100 PCIe": 756,
    "H100": 989,
    "A100": 312,
    "L40S": 362,
    "L4": 121,
    "A10G": 125,
    "4090": 165,
}
NATIVE = {"sd15": 512, "sdxl": 1024, "sd3": 1024}

SD15_UNET = dict(
    sample_size=64,
    cross_attention_dim=768,
    attention_head_dim=8,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
)
SDXL_UNET = dict(
    sample_size=128,
    cross_attention_dim=2048,
    attention_head_dim=(5, 10, 20),
    layers_per_block=2,
    block_out_channels=(320, 640, 1280),
    transformer_layers_per_block=(1, 2, 10),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,
)
SD3_TRANSFORMER = dict(  # SD3 medium
    sample_size=128,
    patch_size=2,
    in_channels=16,
    num_layers=24,
    attention_head_dim=64,
    num_attention_heads=24,
    joint_attention_dim=4096,
    caption_projection_dim=1536,
    pooled_projection_dim=2048,
    out_channels=16,
    pos_embed_max_size=192,
)
VAE = dict(
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
)
CLIP_L = dict(
    hidden_size=768,
    intermediate_size=3072,
    num_attention_heads=12,
    num_hidden_layers=12,
    projection_dim=768,
)
CLIP_BIGG = dict(
    hidden_size=1280,
    intermediate_size=5120,
    num_attention_heads=20,
    num_hidden_layers=32,
    projection_dim=1280,
)


def text_encoder(cls, tokenizer, **config):
    return cls(
        CLIPTextConfig(
            vocab_size=49408,
            max_position_embeddings=77,
            hidden_act="gelu",
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **config,
        )
    )


def build(arch: str, scratch: Path):
    tokenizer = build_clip_tokenizer()
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    if arch == "sd3":
        return StableDiffusion3Pipeline(
            transformer=SD3Transformer2DModel(**SD3_TRANSFORMER),
            scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
            vae=AutoencoderKL(
                sample_size=NATIVE[arch],
                latent_channels=16,
                scaling_factor=1.5305,
                shift_factor=0.0609,
                use_quant_conv=False,
                use_post_quant_conv=False,
                **VAE,
            ),
            text_encoder=text_encoder(CLIPTextModelWithProjection, tokenizer, **CLIP_L),
            tokenizer=tokenizer,
            text_encoder_2=text_encoder(CLIPTextModelWithProjection, tokenizer, **CLIP_BIGG),
            tokenizer_2=tokenizer,
            text_encoder_3=None,
            tokenizer_3=None,
        )
    vae = AutoencoderKL(
        sample_size=NATIVE[arch],
        latent_channels=4,
        scaling_factor=0.18215 if arch == "sd15" else 0.13025,
        **VAE,
    )
    if arch == "sd15":
        return StableDiffusionPipeline(
            vae=vae,
            text_encoder=text_encoder(CLIPTextModel, tokenizer, **CLIP_L),
            tokenizer=tokenizer,
            unet=UNet2DConditionModel(**SD15_UNET),
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder(CLIPTextModel, tokenizer, **CLIP_L),
        text_encoder_2=text_encoder(CLIPTextModelWithProjection, tokenizer, **CLIP_BIGG),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=UNet2DConditionModel(**SDXL_UNET),
        scheduler=scheduler,
    )


def call(pipeline, batch: int, steps: int, size: int, seed: int = 0):
    generators = [torch.Generator(pipeline.device).manual_seed(seed + i) for i in range(batch)]
    with torch.inference_mode():
        return pipeline(
            prompt=["a photo of a cat"] * batch,
            num_inference_steps=steps,
            height=size,
            width=size,
            guidance_scale=7.0,
            generator=generators,
            output_type="pil",
        )


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def flops_per_image(pipeline, steps: int, size: int) -> float:
    with FlopCounterMode(display=False) as counter:
        call(pipeline, 1, steps, size)
    return counter.get_total_flops()


def direct_seconds_per_image(
    pipeline, device: str, batch: int, steps: int, size: int, repeats: int
) -> float:
    call(pipeline, batch, steps, size)  # warm-up
    synchronize(device)
    started = time.perf_counter()
    for r in range(repeats):
        call(pipeline, batch, steps, size, seed=r)
    synchronize(device)
    return (time.perf_counter() - started) / (batch * repeats)


def served_seconds(
    data_dir: Path, model: str, gpus: float, batch: int, steps: int, size: int, repeats: int
) -> float:
    with served_app(
        data_dir,
        gpus_per_replica=gpus,
        max_batch_jobs=batch,
        batch_wait_s=0.05,
        preview_every_steps=5,
    ) as app:
        request = {
            "prompt": "a photo of a cat",
            "model": model,
            "steps": steps,
            "width": size,
            "height": size,
        }
        return served_seconds_per_image(app, request, batch * repeats, timeout=1800)


def peak_tflops(device: str, override: float | None) -> float | None:
    if override:
        return override
    if device != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in PEAK_TFLOPS.items() if key in name), None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", nargs="+", default=["sd15", "sdxl"], choices=list(NATIVE))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 4, 8])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, help="default: the architecture's native size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument(
        "--peak-tflops", type=float, help="the GPU's dense bf16 peak, if not in the table"
    )
    options = parser.parse_args()
    if options.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run on a GPU machine (or --device cpu for a smoke check)")
    dtype = torch.bfloat16 if options.device == "cuda" else torch.float32
    peak = peak_tflops(options.device, options.peak_tflops)
    device_name = torch.cuda.get_device_name() if options.device == "cuda" else "CPU"
    print(
        f"device: {device_name}, dtype {dtype}, peak {peak or '?'} TFLOP/s, {options.steps} steps, CFG 7"
    )
    for arch in options.arch:
        size = options.size or NATIVE[arch]
        with tempfile.TemporaryDirectory() as scratch:
            scratch = Path(scratch)
            torch.manual_seed(0)
            pipeline = build(arch, scratch).to(dtype=dtype)
            model_id = f"bench/{arch}"
            pipeline.save_pretrained(scratch / "models" / model_id, safe_serialization=True)
            pipeline.to(options.device)
            if options.device == "cuda" and hasattr(pipeline, "unet"):
                pipeline.unet.to(memory_format=torch.channels_last)
            pipeline.set_progress_bar_config(disable=True)
            flops = flops_per_image(pipeline, options.steps, size)
            print(f"\n{arch} at {size}²: {flops / 1e12:.1f} TFLOP per image")
            print(
                "batch  direct s/img  direct img/s  served s/img  served img/s  served/direct  floor reached"
            )
            for batch in options.batch_sizes:
                direct = direct_seconds_per_image(
                    pipeline, options.device, batch, options.steps, size, options.repeats
                )
                served = served_seconds(
                    scratch,
                    model_id,
                    1.0 if options.device == "cuda" else 0.0,
                    batch,
                    options.steps,
                    size,
                    options.repeats,
                )
                floor = f"{flops / served / (peak * 1e12):.1%}" if peak else "?"
                print(
                    f"{batch:5d}  {direct:12.3f}  {1 / direct:12.2f}  {served:12.3f}  {1 / served:12.2f}  {direct / served:13.2f}  {floor:>13}"
                )
            del pipeline
            if options.device == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
