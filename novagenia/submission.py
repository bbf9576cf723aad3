"""Submission: what every API (v1, AUTOMATIC1111, OpenAI) does with a generation request
before it queues, with no HTTP in it. A request that passes here never fails later for
a reason the server could have told at once; one that does not raises `InvalidInput`,
which `api/errors.py` answers as a 422 (the OpenAI routes as their 400)."""

from __future__ import annotations

import secrets
from typing import Any

from novagenia.config import AppArgs
from novagenia.engine.families import supported_families
from novagenia.engine.samplers import get_sampler
from novagenia.inputs import (
    InputImage,
    InputNotFound,
    InputStore,
    InvalidImage,
    decode_data_url,
)
from novagenia.jobs.schemas import (
    LORA_TAG,
    MAX_SEED,
    ControlNetUnit,
    GenerationRequest,
    HiresFix,
    TiledUpscale,
)
from novagenia.jobs.webhook_policy import WebhookRefused
from novagenia.loras.fit import fits
from novagenia.loras.library import LoraLibrary
from novagenia.loras.prompt import LoraSetError, resolve_lora_set
from novagenia.models import ModelInfo, ModelNotFound, ModelRegistry
from novagenia.outputs import OutputStore
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
    inputs: InputStore,
) -> GenerationRequest:
    """Fills what the client left to the server (model, size, seed, and the model's
    family defaults for sampler, steps and guidance) and checks what only the server
    knows (installed models and what each can do, configured limits, LoRAs in the
    library, input images), so a job never fails later for it. `<lora:name:weight>` tags
    move from the prompt into `loras`; input images sent as data URLs are stored and the
    job keeps their ids."""
    model_id = request.model or registry.default_model
    try:
        model = registry.get(model_id)
    except (ModelNotFound, UnsafeName):
        raise InvalidInput("model", f"unknown model {model_id!r}; see GET /api/v1/models") from None
    capabilities = model.capabilities
    if capabilities is None:
        raise InvalidInput(
            "model",
            f"model {model.id!r} is a {model.pipeline_class or 'pipeline of unknown type'}, "
            f"which this server cannot run; it runs {supported_families()}",
        )
    if capabilities.inpaint_only:
        _check_inpainting_job(request, model)
    OutputStore(args.resolved_output_uri).check_room(args.min_free_disk_mb * 2**20)
    if request.webhook is not None:
        try:
            args.webhook_policy.check_url(request.webhook.url)
        except WebhookRefused as exc:
            raise InvalidInput("webhook", str(exc)) from None
    given = request.model_fields_set  # what the client set; the rest is the model's
    steps = request.steps if "steps" in given else capabilities.default_steps
    for name, value, limit in (
        ("width", request.width, args.max_image_size),
        ("height", request.height, args.max_image_size),
        ("steps", steps, args.max_steps),
        ("batch_size", request.batch_size, args.max_images_per_job),
    ):
        if value is not None and value > limit:
            raise InvalidInput(name, f"{name} must be at most {limit} on this server")
    for name in ("width", "height"):
        value = getattr(request, name)
        if value is not None and value % capabilities.size_multiple:
            raise InvalidInput(
                name,
                f"{name} must be a multiple of {capabilities.size_multiple} for model {model.id!r}",
            )
    sampler = _sampler(
        request.sampler if "sampler" in given else capabilities.default_sampler, model
    )
    guidance = _guidance(request, model)
    if request.negative_prompt and not capabilities.negative_prompt:
        raise InvalidInput(
            "negative_prompt",
            f"model {model.id!r} has no classifier-free guidance ({capabilities.guidance}), "
            "so a negative prompt does not apply; leave it empty",
        )
    if request.tiling and not capabilities.tiling:
        raise InvalidInput(
            "tiling", f"seamless tiling needs a UNet model; {model.pipeline_class} has none"
        )
    if (request.loras or LORA_TAG.search(request.prompt)) and not capabilities.loras:
        raise InvalidInput("loras", f"LoRAs are not supported on {model.pipeline_class} models yet")
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
    images = _image_inputs(request, model, args, inputs)
    controlnet = _controlnet_units(request, model, registry, args, inputs)
    upscale = _upscale(request, model, args, images)
    if upscale is not None:  # its tiles take the job's size: the model's own by default
        images |= {
            "width": min(model.native_size, upscale.width),
            "height": min(model.native_size, upscale.height),
        }
    width = request.width or images.get("width") or model.native_size
    height = request.height or images.get("height") or model.native_size
    if upscale is not None and (width > upscale.width or height > upscale.height):
        raise InvalidInput("upscale", f"the tiles ({width}×{height}) must fit the upscaled picture")
    if upscale is not None:
        tiles = len(upscale.tiles(width, height))
        if tiles * steps > UPSCALE_WORK_FACTOR * args.max_steps:
            raise InvalidInput(
                "upscale",
                f"{tiles} tiles of {width}×{height} at {steps} "
                f"steps is more than {UPSCALE_WORK_FACTOR}× a job's step limit; ask for "
                "larger tiles (width, height), fewer steps or a smaller scale",
            )
    return request.model_copy(
        update={
            **images,
            "controlnet": controlnet,
            "upscale": upscale,
            "hires": _hires(request, model, args, width, height),
            "prompt": prompt,
            "loras": loras,
            "model": model.id,
            "sampler": sampler,
            "steps": steps,
            "guidance_scale": guidance,
            "width": width,
            "height": height,
            "seed": request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1),
        }
    )


def _hires(
    request: GenerationRequest, model: ModelInfo, args: AppArgs, width: int, height: int
) -> HiresFix | None:
    """The hires fix with its final size filled in and checked like any size."""
    hires = request.hires
    if hires is None:
        return None
    capabilities = model.capabilities
    if not capabilities.image_inputs:
        raise InvalidInput(
            "hires", f"the hires fix needs img2img, which {model.pipeline_class} models lack"
        )
    if hires.in_latent_space and not capabilities.latent_upscale:
        raise InvalidInput(
            "hires", f"latent upscalers need SD 1.x/2.x or SDXL; use lanczos on {model.id!r}"
        )
    if hires.in_latent_space and request.mask is not None:
        raise InvalidInput("hires", "a latent upscaler does not combine with a mask: lanczos")
    if hires.in_latent_space and hires.strength == 0:
        raise InvalidInput("hires", "a latent upscale must be redrawn: strength above 0")
    multiple = capabilities.size_multiple
    final = (
        hires.width or round(width * hires.scale / multiple) * multiple,
        hires.height or round(height * hires.scale / multiple) * multiple,
    )
    for name, side, first in (("width", final[0], width), ("height", final[1], height)):
        if side % multiple or side > args.max_image_size or side < first:
            raise InvalidInput(
                "hires",
                f"the hires {name} {side} must be a multiple of {multiple}, at least the "
                f"first pass's {first} and at most {args.max_image_size}",
            )
    return hires.model_copy(update={"width": final[0], "height": final[1]})


def _check_inpainting_job(request: GenerationRequest, model: ModelInfo) -> None:
    """A dedicated inpainting model draws only into the masked part of a picture."""
    what = f"{model.id!r} is an inpainting model"
    if request.init_image is None:
        raise InvalidInput("init_image", f"{what}: its jobs start from an init_image")
    if request.mask is None:
        raise InvalidInput("mask", f"{what}: its jobs need a mask (white is redrawn)")
    for field, asked in (("hires", request.hires), ("upscale", request.upscale)):
        if asked is not None:
            raise InvalidInput(field, f"{what}: the {field} pass would redraw without a mask")


def _upscale(
    request: GenerationRequest, model: ModelInfo, args: AppArgs, images: dict[str, Any]
) -> TiledUpscale | None:
    """The tiled upscale with its final size: the init image's × `scale`, rounded to the
    model's size multiple, within the server's size limit."""
    upscale = request.upscale
    if upscale is None:
        return None
    if request.init_image is None:
        raise InvalidInput("upscale", "a tiled upscale needs an init_image to upscale")
    for name, clashing in (("mask", request.mask), ("hires", request.hires)):
        if clashing:
            raise InvalidInput("upscale", f"a tiled upscale does not combine with {name}")
    if request.controlnet:
        raise InvalidInput("upscale", "a tiled upscale does not combine with ControlNet yet")
    multiple = model.capabilities.size_multiple
    final = [
        round(images[side] * upscale.scale / multiple) * multiple for side in ("width", "height")
    ]
    if max(final) > args.max_image_size:
        raise InvalidInput(
            "upscale",
            f"the upscaled picture would be {final[0]}×{final[1]}, larger than this "
            f"server's {args.max_image_size}",
        )
    return upscale.model_copy(update={"width": final[0], "height": final[1]})


# A tiled upscale may run at most this many times `max_steps` steps, all tiles together.
UPSCALE_WORK_FACTOR = 64


def _image_inputs(
    request: GenerationRequest, model: ModelInfo, args: AppArgs, inputs: InputStore
) -> dict[str, Any]:
    """The init image and mask as stored input ids, and the size they suggest: the init
    image's, rounded down to the model's size multiple."""
    if request.mask is None and request.mask_crop_padding is not None:
        raise InvalidInput("mask_crop_padding", "only an inpainting job (with a mask) crops")
    if request.init_image is None:
        if request.mask is not None:
            raise InvalidInput("mask", "a mask needs an init_image to inpaint")
        return {}
    if not model.capabilities.image_inputs:
        raise InvalidInput(
            "init_image",
            f"img2img and inpainting are not supported on {model.pipeline_class} models yet",
        )
    init = _stored_input("init_image", request.init_image, args, inputs)
    mask = _stored_input("mask", request.mask, args, inputs) if request.mask else None
    multiple = model.capabilities.size_multiple

    def fitted(side: int) -> int:
        return max(64, min(args.max_image_size, side) // multiple * multiple)

    return {
        "init_image": init.id,
        "mask": mask.id if mask else None,
        "width": fitted(init.width),
        "height": fitted(init.height),
    }


def _controlnet_units(
    request: GenerationRequest,
    model: ModelInfo,
    registry: ModelRegistry,
    args: AppArgs,
    inputs: InputStore,
) -> list[ControlNetUnit]:
    """Each unit's ControlNet installed and made for this model's family, its picture
    stored (a data URL becomes an input id) or, absent, the job's init image."""
    if not request.controlnet:
        return []
    if not model.capabilities.controlnet:
        raise InvalidInput(
            "controlnet", f"ControlNet is not supported on {model.pipeline_class} models yet"
        )
    denoiser = model.denoiser_config
    units = []
    for unit in request.controlnet:
        try:
            controlnet = registry.controlnet(unit.model)
        except (ModelNotFound, UnsafeName):
            raise InvalidInput(
                "controlnet",
                f"unknown ControlNet {unit.model!r}; see GET /api/v1/controlnet/models",
            ) from None
        if controlnet.family != model.capabilities.family or (
            denoiser and denoiser.get("cross_attention_dim") != controlnet.cross_attention_dim
        ):
            raise InvalidInput(
                "controlnet",
                f"ControlNet {unit.model!r} was made for other models than {model.id!r} "
                f"({controlnet.family}, text width {controlnet.cross_attention_dim})",
            )
        if unit.image is None and request.init_image is None:
            raise InvalidInput(
                "controlnet", "a ControlNet unit needs an image (or the job's init_image)"
            )
        image = unit.image and _stored_input("controlnet", unit.image, args, inputs).id
        units.append(unit.model_copy(update={"image": image}))
    return units


def _stored_input(field: str, value: str, args: AppArgs, inputs: InputStore) -> InputImage:
    try:
        if value.startswith("data:"):
            return inputs.save(decode_data_url(value, int(args.max_input_mb * 2**20)))
        return inputs.describe(value)
    except InvalidImage as exc:
        raise InvalidInput(field, str(exc)) from None
    except InputNotFound:
        raise InvalidInput(
            field,
            f"no input image {value!r}: upload it with POST /api/v1/inputs or send a data URL",
        ) from None


def _sampler(name: str, model: ModelInfo) -> str:
    try:
        sampler = get_sampler(name)
    except ValueError as exc:
        raise InvalidInput("sampler", str(exc)) from None
    if sampler.name not in model.samplers:
        offered = ", ".join(model.samplers)
        raise InvalidInput(
            "sampler",
            f"sampler {sampler.name!r} ({sampler.label}) does not apply to model {model.id!r}; "
            f"it offers: {offered}",
        )
    return sampler.name


def _guidance(request: GenerationRequest, model: ModelInfo) -> float:
    """The request's guidance, or the model's default. A model without guidance (Flux
    schnell) takes none: 0, or 1 (AUTOMATIC1111's "no CFG"), is all it accepts."""
    capabilities = model.capabilities
    if "guidance_scale" not in request.model_fields_set:
        return capabilities.default_guidance
    if capabilities.guidance == "none":
        if request.guidance_scale not in (0.0, 1.0):
            raise InvalidInput(
                "guidance_scale",
                f"model {model.id!r} takes no guidance (a guidance-distilled model "
                "without a guidance input); leave guidance_scale out",
            )
        return 0.0
    return request.guidance_scale
