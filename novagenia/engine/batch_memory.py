"""How big a batch a replica may claim. `max_batch_images: auto` is small on CPU, and on
CUDA the memory decides: each model's peak memory per image pixel is measured once at
load (one image, one step, with decode), the device's headroom after every load."""

from __future__ import annotations

import logging

import torch
from diffusers import DiffusionPipeline

logger = logging.getLogger("novagenia.engine")

# `auto` on CPU: a CPU's throughput barely grows past a few images per call, and every
# image added makes each job in the batch wait longer.
CPU_AUTO_MAX_IMAGES = 8
# `auto` on CUDA: an upper bound the memory estimate then lowers.
CUDA_AUTO_MAX_IMAGES = 64
# Of the headroom, what batches may use: the estimate is linear in pixels, the
# allocator's fragmentation and cuDNN workspaces are not.
HEADROOM_USED = 0.8


def auto_max_images(device: str) -> int:
    return CUDA_AUTO_MAX_IMAGES if device == "cuda" else CPU_AUTO_MAX_IMAGES


def measure_bytes_per_pixel(pipeline: DiffusionPipeline) -> float | None:
    """Peak memory one image of the model needs per pixel (its native size, CFG on,
    decode included); None off CUDA, where memory does not bound the batch."""
    if pipeline._execution_device.type != "cuda":  # offloaded weights rest on the CPU
        return None
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        image = pipeline(prompt="measure", num_inference_steps=1, guidance_scale=5.0).images[0]
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    width, height = image.size
    logger.info("one %dx%d image needs %.0f MiB at its peak", width, height, peak / 2**20)
    return peak / (width * height)


def device_headroom(gpu_share: float) -> int | None:
    """Bytes left for batches on this replica's GPU share, taken while nothing runs on it
    (right after a load); None off CUDA."""
    if gpu_share <= 0 or not torch.cuda.is_available():
        return None
    torch.cuda.empty_cache()
    free, total = torch.cuda.mem_get_info()
    share_left = int(total * min(1.0, gpu_share)) - torch.cuda.memory_reserved()
    return max(0, min(free, share_left))


def max_batch_pixels(headroom: int | None, bytes_per_pixel: float | None) -> int | None:
    """Most image pixels (width × height × images) a batch may hold; None: no bound."""
    if headroom is None or not bytes_per_pixel:
        return None
    return max(1, int(headroom * HEADROOM_USED / bytes_per_pixel))
