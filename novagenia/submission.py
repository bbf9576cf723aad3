"""Submission: what every API (v1, AUTOMATIC1111, OpenAI) does with a generation request
before it queues, with no HTTP in it. A request that passes here never fails later for
a reason the server could have told at once; one that does not raises `InvalidInput`,
which `api/errors.py` answers as a 422 (the OpenAI routes as their 400)."""

from __future__ import annotations

import secrets
from typing import Any

from novagenia.config import AppArgs
from novagenia.engine.samplers import get_sampler
from novagenia.jobs.schemas import MAX_SEED, GenerationRequest
from novagenia.loras.fit import fits
from novagenia.loras.library import LoraLibrary
from novagenia.loras.prompt import LoraSetError, resolve_lora_set
from novagenia.models import ModelNotFound, ModelRegistry
from novagenia.paths import UnsafeName


class InvalidInput(ValueError):
    """A request field the server refuses, with a message for people."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def errors(self) -> list[dict[str, Any]]:
        """FastAPI's own validation-error shape, so clients parse one format."""
        return [{"loc": ["body", self.field], "msg": self.message, "type": "value_error"}]


def resolve_request(
    request: GenerationRequest,
    registry: ModelRegistry,
    args: AppArgs,
    library: LoraLibrary,
) -> GenerationRequest:
    """Fills what the client left to the server (model, size, seed) and checks what only
    the server knows (installed models, samplers, configured limits, LoRAs in the
    library), so a job never fails later for it. `<lora:name:weight>` tags move from
    the prompt into `loras`."""
    for name, value, limit in (
        ("width", request.width, args.max_image_size),
        ("height", request.height, args.max_image_size),
        ("steps", request.steps, args.max_steps),
        ("batch_size", request.batch_size, args.max_images_per_job),
    ):
        if value is not None and value > limit:
            raise InvalidInput(name, f"{name} must be at most {limit} on this server")
    model_id = request.model or registry.default_model
    try:
        model = registry.get(model_id)
    except (ModelNotFound, UnsafeName):
        raise InvalidInput("model", f"unknown model {model_id!r}; see GET /api/v1/models") from None
    try:
        sampler = get_sampler(request.sampler)
    except ValueError as exc:
        raise InvalidInput("sampler", str(exc)) from None
    if sampler.name not in model.samplers:
        offered = ", ".join(model.samplers)
        raise InvalidInput(
            "sampler",
            f"sampler {sampler.name!r} ({sampler.label}) does not apply to model {model.id!r}; "
            f"it offers: {offered}",
        )
    try:
        prompt, loras = resolve_lora_set(request.prompt, request.loras, library)
    except LoraSetError as exc:
        raise InvalidInput(exc.field, str(exc)) from None
    for lora in loras:
        if fits(library.weights_path(lora.name), model) is False:
            raise InvalidInput(
                "loras",
                f"LoRA {lora.name!r} does not fit model {model.id!r}: its layers differ "
                "(trained for another architecture)",
            )
    return request.model_copy(
        update={
            "prompt": prompt,
            "loras": loras,
            "model": model.id,
            "width": request.width or model.native_size,
            "height": request.height or model.native_size,
            "seed": request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1),
        }
    )
