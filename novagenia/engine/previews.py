"""Live previews made from latents with a linear latent→RGB projection: one small matrix
product per preview, never a VAE decode per step.

No fixed matrix fits every VAE (the SD 1.x one draws noise for others, and other channel
counts have none), so each model's projection is fitted when it loads: a few seeded
colour mosaics go through its VAE encoder, and least squares maps their latents (scaled
as the denoising loop sees them) back to the mosaics' pixels."""

from __future__ import annotations

import base64
import io
import logging
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from novagenia.engine.families import vae_scale_factor

logger = logging.getLogger("novagenia.engine")

PREVIEW_MIN_SIDE = 64
FIT_IMAGES = 16
FIT_TILE = 16  # pixels per mosaic tile: solid areas a few latent cells wide
FIT_SEED = 0


@dataclass(frozen=True)
class LatentProjection:
    """latents (C, H, W) → RGB in [-1, 1]: `weights` (C, 3) and `bias` (3,)."""

    weights: torch.Tensor
    bias: torch.Tensor

    @property
    def channels(self) -> int:
        return self.weights.shape[0]

    def preview(self, latents: torch.Tensor) -> Image.Image | None:
        """A small RGB picture of one latent; None for a latent of another shape."""
        if latents.ndim != 3 or latents.shape[0] != self.channels:
            return None
        rgb = torch.einsum("chw,cr->hwr", latents.detach().float().cpu(), self.weights)
        pixels = ((rgb + self.bias + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
        image = Image.fromarray(pixels, "RGB")
        if min(image.size) < PREVIEW_MIN_SIDE:
            scale = -(-PREVIEW_MIN_SIDE // min(image.size))
            image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
        return image


def fit_latent_projection(pipeline) -> LatentProjection | None:
    """Fits the projection of this pipeline's VAE; None when it has no image VAE."""
    vae = getattr(pipeline, "vae", None)
    if vae is None or not hasattr(vae, "encode"):
        return None
    side = max(FIT_TILE * 4, vae_scale_factor(vae.config) * 8)
    mosaics = colour_mosaics(FIT_IMAGES, side)
    parameter = next(vae.parameters())
    pixels = torch.from_numpy(mosaics).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    try:
        with torch.inference_mode():
            output = vae.encode(pixels.to(parameter.device, parameter.dtype))
        # A KL VAE gives a distribution, a deterministic one (Sana's DC-AE) the latent
        encoded = output.latent_dist.mean if hasattr(output, "latent_dist") else output.latent
    except Exception:
        logger.warning("no live previews: could not encode with this VAE", exc_info=True)
        return None
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    latents = (encoded.float().cpu() - shift) * (getattr(vae.config, "scaling_factor", None) or 1.0)
    height, width = latents.shape[-2:]
    targets = torch.nn.functional.interpolate(pixels, size=(height, width), mode="area")
    x = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
    y = targets.permute(0, 2, 3, 1).reshape(-1, 3)
    x1 = torch.cat([x, torch.ones(len(x), 1)], dim=1)
    solution = torch.linalg.lstsq(x1, y).solution
    return LatentProjection(weights=solution[:-1].contiguous(), bias=solution[-1].contiguous())


def colour_mosaics(count: int, side: int) -> np.ndarray:
    """Seeded pictures of solid-colour tiles (uint8, N×side×side×3) spanning the RGB cube."""
    rng = np.random.default_rng(FIT_SEED)
    tiles = side // FIT_TILE
    colours = rng.integers(0, 256, size=(count, tiles, tiles, 3), dtype=np.uint8)
    return colours.repeat(FIT_TILE, axis=1).repeat(FIT_TILE, axis=2)


def as_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
