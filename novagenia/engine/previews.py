"""Live previews made from latents with a linear latent→RGB projection: a 4×3 matrix
product per preview, never a VAE decode per step."""

from __future__ import annotations

import base64
import io

import torch
from PIL import Image

# Stable Diffusion 1.x/2.x latent space (4 channels) → approximate RGB.
SD_LATENT_RGB = torch.tensor(
    [
        [0.3512, 0.2297, 0.3227],
        [0.3250, 0.4974, 0.2350],
        [-0.2829, 0.1762, 0.2721],
        [-0.2120, -0.2616, -0.7177],
    ]
)
PREVIEW_MIN_SIDE = 64


def latent_preview(latents: torch.Tensor) -> Image.Image | None:
    """One latent (C, H, W) → a small RGB picture; None for latent spaces we can't map."""
    if latents.ndim != 3 or latents.shape[0] != SD_LATENT_RGB.shape[0]:
        return None
    rgb = torch.einsum("chw,cr->hwr", latents.detach().float().cpu(), SD_LATENT_RGB)
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    image = Image.fromarray(pixels, "RGB")
    if min(image.size) < PREVIEW_MIN_SIDE:
        scale = -(-PREVIEW_MIN_SIDE // min(image.size))
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    return image


def as_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
