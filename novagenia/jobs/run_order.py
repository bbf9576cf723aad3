"""How queued jobs are ordered and batched within one model's queue (see `JobBoard`):
the sort key of a queued job, users' round-robin turns within a priority level, and
which jobs may share one pipeline call."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from novagenia.jobs.schemas import GenerationRequest, Job

QueueKey = tuple[int, int, float, str]  # (-level, turn, order, job id)


@dataclass
class UserTurns:
    """Round-robin turns of users within one (model, priority) level."""

    served: int = 0
    next_by_user: dict[str, int] = field(default_factory=dict)

    def take(self, user: str) -> int:
        turn = max(self.next_by_user.get(user, 0), self.served)
        self.next_by_user[user] = turn + 1
        return turn


def batch_signature(request: GenerationRequest) -> tuple:
    """Jobs with equal signatures can share one pipeline call (only prompts and seeds differ)."""
    return (
        request.model,
        request.width,
        request.height,
        request.steps,
        request.sampler,
        request.guidance_scale,
        request.speed,
        request.tiling,
        request.hires.model_dump_json() if request.hires else None,
        request.upscale.model_dump_json() if request.upscale else None,
        tuple((lora.name, lora.weight) for lora in request.loras),
        request.init_image,  # one init image (and mask) per pipeline call
        request.mask,
        (request.strength, request.mask_blur, request.invert_mask, request.mask_crop_padding)
        if request.init_image
        else None,
        tuple(unit.model_dump_json() for unit in request.controlnet),
    )


def pick_batch(
    queued: Iterable[tuple[QueueKey, Job]],
    max_jobs: int,
    max_images: int | None,
    max_pixels: int | None = None,
) -> list[Job]:
    """From a non-empty queue in run order: its head plus the compatible jobs that follow,
    within the bounds (jobs, images, and image pixels: what a batch's memory grows with;
    the head always runs). A batch may pass over jobs of its own level, never one of a
    higher level than the next job it takes (it must not overtake a higher-priority job)."""
    ordered = iter(queued)
    _, first = next(ordered)
    batch = [first]
    signature = batch_signature(first.request)
    images = first.request.batch_size
    if max_pixels is not None:  # the batch shares the head's size (batch_signature)
        by_memory = max(1, max_pixels // (first.request.width * first.request.height))
        max_images = by_memory if max_images is None else min(max_images, by_memory)
    skipped_level: int | None = None  # -level of the first job passed over
    for key, candidate in ordered:
        if len(batch) >= max_jobs:
            break
        if skipped_level is not None and key[0] > skipped_level:
            break
        size = candidate.request.batch_size
        fits = max_images is None or images + size <= max_images
        if fits and batch_signature(candidate.request) == signature:
            batch.append(candidate)
            images += size
        elif skipped_level is None:
            skipped_level = key[0]
    return batch
