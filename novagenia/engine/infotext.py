"""PNG files carrying their generation parameters in AUTOMATIC1111's `parameters` text
chunk, so "PNG Info" readers (and A1111 itself) recover prompt, seed and settings."""

from __future__ import annotations

import io

from PIL import Image, PngImagePlugin

from novagenia import __version__
from novagenia.engine.samplers import SAMPLERS
from novagenia.jobs.schemas import GenerationRequest

# HiresFix.upscaler -> the name A1111 writes (and a1111_jobs reads back)
A1111_UPSCALER_NAMES = {
    "lanczos": "Lanczos",
    "latent": "Latent",
    "latent-antialiased": "Latent (antialiased)",
    "latent-bicubic": "Latent (bicubic)",
    "latent-bicubic-antialiased": "Latent (bicubic antialiased)",
    "latent-nearest": "Latent (nearest)",
    "latent-nearest-exact": "Latent (nearest-exact)",
}


def infotext(request: GenerationRequest, seed: int, width: int, height: int) -> str:
    """A1111's format: prompt line, `Negative prompt:` line, then `Key: value, …`."""
    sampler = SAMPLERS[request.sampler].label if request.sampler in SAMPLERS else request.sampler
    prompt = request.prompt
    for lora in request.loras:
        tag = f"<lora:{lora.name}:{lora.weight:g}>"
        if tag not in prompt:
            prompt = f"{prompt} {tag}"
    lines = [prompt]
    if request.negative_prompt:
        lines.append(f"Negative prompt: {request.negative_prompt}")
    fields = {
        "Steps": request.steps,
        "Sampler": sampler,
        "CFG scale": f"{request.guidance_scale:g}",
        "Seed": seed,
        # with the hires fix, A1111 writes the first pass's size and the final one apart
        "Size": f"{request.width}x{request.height}" if request.hires else f"{width}x{height}",
        "Model": request.model,
        **({"Speed": request.speed} if request.speed != "quality" else {}),
        **({"Tiling": True} if request.tiling else {}),
        **_second_look(request),
        "Version": f"NovaGenIA {__version__}",
    }
    lines.append(", ".join(f"{key}: {value}" for key, value in fields.items()))
    return "\n".join(lines)


def _second_look(request: GenerationRequest) -> dict[str, object]:
    """What img2img, inpainting, SD upscale, ControlNet and the hires fix add, under
    A1111's names."""
    fields: dict[str, object] = {}
    if request.init_image:
        fields["Denoising strength"] = f"{request.strength:g}"
    if request.mask:
        fields["Mask blur"] = request.mask_blur
        if request.mask_crop_padding is not None:
            fields["Masked area padding"] = request.mask_crop_padding
    if request.upscale:
        fields["SD upscale overlap"] = request.upscale.overlap
        fields["SD upscale upscaler"] = "Lanczos"
    for index, unit in enumerate(request.controlnet):
        # the ControlNet extension's form: one quoted field per unit
        fields[f"ControlNet {index}"] = (
            f'"Module: {unit.preprocessor.name}, Model: {unit.model}, Weight: {unit.weight:g}, '
            f'Guidance Start: {unit.guidance_start:g}, Guidance End: {unit.guidance_end:g}"'
        )
    if request.hires:
        fields |= {
            "Denoising strength": f"{request.hires.strength:g}",
            "Hires upscale": f"{request.hires.scale:g}",
            "Hires resize": f"{request.hires.width}x{request.hires.height}",
            "Hires steps": request.hires_steps,
            "Hires upscaler": A1111_UPSCALER_NAMES[request.hires.upscaler],
        }
    return fields


def png_with_parameters(image: Image.Image, parameters: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", parameters)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
