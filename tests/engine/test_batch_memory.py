"""The batch bounds `max_batch_images: auto` resolves to."""

from __future__ import annotations

from novagenia.engine.batch_memory import (
    CPU_AUTO_MAX_IMAGES,
    HEADROOM_USED,
    auto_max_images,
    device_headroom,
    max_batch_pixels,
)


def test_cpu_batches_stay_small_and_unbounded_by_memory():
    assert auto_max_images("cpu") == CPU_AUTO_MAX_IMAGES <= 8
    assert auto_max_images("cuda") > CPU_AUTO_MAX_IMAGES
    assert device_headroom(0) is None
    assert max_batch_pixels(None, None) is None
    assert max_batch_pixels(10**9, None) is None


def test_memory_bound_is_the_usable_headroom_over_the_bytes_per_pixel():
    per_pixel = 10_000.0  # ~2.6 GiB for a 512x512 image
    headroom = 40 * 2**30
    pixels = max_batch_pixels(headroom, per_pixel)
    assert pixels == int(headroom * HEADROOM_USED / per_pixel)
    assert pixels // (512 * 512) == 13  # images of 512x512 a batch may hold
    assert max_batch_pixels(0, per_pixel) == 1  # the head of the queue still runs
