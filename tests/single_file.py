"""Diffusers pipelines written as original-layout (LDM) single-file checkpoints, the way
SD 1.x and SDXL checkpoints are shared: what the single-file tests load. Key by key the
inverse of the conversion diffusers applies when it loads one
(`diffusers.loaders.single_file_utils`), whose fixed name tables it reuses."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from diffusers import DiffusionPipeline
from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING
from safetensors.torch import save_file

# A UNet resnet's diffusers names → LDM names (the VAE's keep theirs but the shortcut)
RESNET_PARTS = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}
VAE_ATTENTION_PARTS = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}
OPEN_CLIP_PARTS = (
    ("text_model.encoder.layers.", "transformer.resblocks."),
    ("layer_norm1", "ln_1"),
    ("layer_norm2", "ln_2"),
    (".fc1.", ".c_fc."),
    (".fc2.", ".c_proj."),
    (".self_attn.", ".attn."),
)


def write_single_file(pipeline: DiffusionPipeline, path: Path) -> Path:
    """An SD 1.x (one CLIP text encoder) or SDXL (CLIP + OpenCLIP) pipeline as one file."""
    tensors = {
        **_prefixed("model.diffusion_model.", ldm_unet(pipeline.unet)),
        **_prefixed("first_stage_model.", ldm_vae(pipeline.vae)),
    }
    # LDM files name CLIP's weights `text_model.…`, which transformers >= 5.6 dropped
    # from CLIPTextModel (its conversion on load adds nothing back: it strips)
    text = pipeline.text_encoder.state_dict()
    if not hasattr(pipeline.text_encoder, "text_model"):
        text = _prefixed("text_model.", text)
    if getattr(pipeline, "text_encoder_2", None) is None:
        tensors |= _prefixed("cond_stage_model.transformer.", text)
    else:
        tensors |= _prefixed("conditioner.embedders.0.transformer.", text)
        tensors |= _prefixed(
            "conditioner.embedders.1.model.", ldm_open_clip(pipeline.text_encoder_2)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({name: t.contiguous() for name, t in tensors.items()}, path)
    return path


def ldm_unet(unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    config = unet.config
    per_block = config.layers_per_block + 1  # resnets, then the down/upsampler's slot
    fixed = {**DIFFUSERS_TO_LDM_MAPPING["unet"]["layers"]}
    if config.addition_embed_type == "text_time":
        fixed |= DIFFUSERS_TO_LDM_MAPPING["unet"]["addition_embed_type"]
    attentive_up = {i for i, kind in enumerate(config.up_block_types) if "CrossAttn" in kind}

    def upsampler(block: int) -> str:
        slot = 2 if block in attentive_up else 1
        return f"output_blocks.{block * per_block + per_block - 1}.{slot}"

    # (blocks, kind) → the LDM name of weight `rest` of item `i` of block `b`
    numbered = {
        ("down_blocks", "resnets"): lambda b, i, rest: (
            f"input_blocks.{1 + b * per_block + i}.0.{_resnet(rest)}"
        ),
        ("down_blocks", "attentions"): lambda b, i, rest: (
            f"input_blocks.{1 + b * per_block + i}.1.{rest}"
        ),
        ("down_blocks", "downsamplers"): lambda b, i, rest: (
            f"input_blocks.{(b + 1) * per_block}.0.op.{rest.removeprefix('conv.')}"
        ),
        ("up_blocks", "resnets"): lambda b, i, rest: (
            f"output_blocks.{b * per_block + i}.0.{_resnet(rest)}"
        ),
        ("up_blocks", "attentions"): lambda b, i, rest: (
            f"output_blocks.{b * per_block + i}.1.{rest}"
        ),
        ("up_blocks", "upsamplers"): lambda b, i, rest: f"{upsampler(b)}.{rest}",
    }

    def name(key: str) -> str:
        if key in fixed:
            return fixed[key]
        if match := re.fullmatch(r"(down_blocks|up_blocks)\.(\d+)\.(\w+)\.(\d+)\.(.+)", key):
            return numbered[match[1], match[3]](int(match[2]), int(match[4]), match[5])
        if match := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
            return f"middle_block.{2 * int(match[1])}.{_resnet(match[2])}"
        if match := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
            return f"middle_block.1.{match[1]}"
        raise KeyError(f"no LDM name for UNet weight {key}")

    return {name(key): tensor for key, tensor in unet.state_dict().items()}


def ldm_vae(vae: torch.nn.Module) -> dict[str, torch.Tensor]:
    fixed = {diffusers: ldm for diffusers, ldm in DIFFUSERS_TO_LDM_MAPPING["vae"].items()}
    last_up = len(vae.config.up_block_types) - 1  # LDM counts the decoder's blocks upwards
    converted = {}
    for key, tensor in vae.state_dict().items():
        if key in fixed:
            converted[fixed[key]] = tensor
            continue
        key = key.replace("conv_shortcut", "nin_shortcut")
        if match := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(\w+)", key):
            part = VAE_ATTENTION_PARTS[match[2]]
            if tensor.ndim == 2:  # LDM's attention projections are 1×1 convolutions
                tensor = tensor[:, :, None, None]
            converted[f"{match[1]}.mid.attn_1.{part}.{match[3]}"] = tensor
            continue
        for pattern, replacement in (
            (r"encoder\.down_blocks\.(\d+)\.resnets\.", r"encoder.down.\1.block."),
            (r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample."),
            (r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.", None),
            (r"decoder\.up_blocks\.(\d+)\.resnets\.", "decoder.up.{}.block."),
            (r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.", "decoder.up.{}.upsample."),
        ):
            match = re.match(pattern, key)
            if match is None:
                continue
            if replacement is None:
                new = f"{match[1]}.mid.block_{int(match[2]) + 1}."
            elif "{}" in replacement:
                new = replacement.format(last_up - int(match[1]))
            else:
                new = match.expand(replacement)
            converted[new + key[match.end() :]] = tensor
            break
        else:
            raise KeyError(f"no LDM name for VAE weight {key}")
    return converted


def ldm_open_clip(text_encoder: torch.nn.Module) -> dict[str, torch.Tensor]:
    """OpenCLIP's layout: fused query/key/value projections, a transposed projection."""
    fixed = DIFFUSERS_TO_LDM_MAPPING["openclip"]["layers"]
    converted: dict[str, torch.Tensor] = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in text_encoder.state_dict().items():
        if key in fixed:
            converted[fixed[key]] = tensor.T if key == "text_projection.weight" else tensor
            continue
        for old, new in OPEN_CLIP_PARTS:
            key = key.replace(old, new)
        if match := re.fullmatch(r"(.+)\.attn\.([qkv])_proj\.(weight|bias)", key):
            fused.setdefault(f"{match[1]}.attn.in_proj_{match[3]}", {})[match[2]] = tensor
            continue
        converted[key] = tensor
    for key, parts in fused.items():
        converted[key] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return converted


def _resnet(rest: str) -> str:
    part, _, tail = rest.partition(".")
    return f"{RESNET_PARTS.get(part, part)}.{tail}"


def _prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {prefix + name: tensor for name, tensor in tensors.items()}
