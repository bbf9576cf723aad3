"""LoRA files for the embedded tiny model, made the way trainers make them: a peft
`LoraConfig` adapter on the UNet (and the text encoder), with random non-zero weights
(peft starts B at zero, which would make a LoRA that changes nothing), saved in the
diffusers format or renamed to kohya's `lora_unet_…`/`lora_te_…` keys."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline, UNet2DConditionModel
from peft import LoraConfig, inject_adapter_in_model
from peft.utils import get_peft_model_state_dict
from safetensors.torch import save_file

from novagenia.embedded.random_tiny import build_tiny_random_pipeline

UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]


def lora_layers(
    seed: int, rank: int = 4, text_encoder: bool = True, cross_attention_dim: int | None = None
) -> dict[str, dict[str, torch.Tensor]]:
    """peft state dicts by component (`unet`, `text_encoder`), random and non-zero.
    `cross_attention_dim` other than the tiny model's (32) gives a LoRA for another
    architecture: its `attn2.to_k`/`to_v` shapes do not fit."""
    base = build_tiny_random_pipeline()
    unet = base.unet
    if cross_attention_dim is not None:
        unet = UNet2DConditionModel.from_config(
            {**unet.config, "cross_attention_dim": cross_attention_dim}
        )
    unet.add_adapter(lora_config(rank, UNET_TARGETS))
    layers = {"unet": get_peft_model_state_dict(unet)}
    if text_encoder:
        encoder = inject_adapter_in_model(lora_config(rank, TEXT_TARGETS), base.text_encoder)
        layers["text_encoder"] = get_peft_model_state_dict(encoder)
    generator = torch.Generator().manual_seed(seed)
    return {
        component: {
            key: (torch.randn(value.shape, generator=generator) * 0.5).contiguous()
            for key, value in state.items()
        }
        for component, state in layers.items()
    }


def lora_config(rank: int, targets: list[str], alpha: float | None = None) -> LoraConfig:
    """`alpha` defaults to rank / 2 (scale 0.5), as trainers commonly save them."""
    return LoraConfig(
        r=rank, lora_alpha=rank / 2 if alpha is None else alpha, target_modules=targets
    )


def to_kohya(layers: dict[str, dict[str, torch.Tensor]], rank: int) -> dict[str, torch.Tensor]:
    """Kohya's names: `lora_unet_<module_path_with_underscores>.lora_down.weight`,
    `.lora_up.weight` and a scalar `.alpha` per module."""
    out: dict[str, torch.Tensor] = {}
    for component, state in layers.items():
        prefix = {"unet": "lora_unet_", "text_encoder": "lora_te_"}[component]
        for key, value in state.items():
            module, _, kind = key.rpartition(".lora_")
            stem = prefix + module.replace(".", "_")
            out[f"{stem}.lora_{'down' if kind.startswith('A') else 'up'}.weight"] = value
            out[f"{stem}.alpha"] = torch.tensor(rank / 2)
    return out


KOHYA_METADATA = {
    "ss_network_module": "networks.lora",
    "ss_network_dim": "4",
    "ss_network_alpha": "2.0",
    "ss_base_model_version": "sd_v1",
    "ss_sd_model_name": "v1-5-pruned-emaonly.safetensors",
    "ss_resolution": "(512, 512)",
    "ss_tag_frequency": json.dumps(
        {"10_shapes": {"red circle": 40, "blue square": 25, "star": 3, "outline": 12}}
    ),
}


def write_lora(
    path: Path,
    seed: int,
    fmt: str = "diffusers",
    rank: int = 4,
    text_encoder: bool = True,
    cross_attention_dim: int | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Writes a `.safetensors` LoRA for the tiny model (`fmt`: "diffusers" or "kohya")."""
    layers = lora_layers(seed, rank, text_encoder, cross_attention_dim)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "kohya":
        save_file(to_kohya(layers, rank), str(path), metadata=metadata)
    else:
        StableDiffusionPipeline.save_lora_weights(
            path.parent,
            unet_lora_layers=layers["unet"],
            text_encoder_lora_layers=layers.get("text_encoder"),
            weight_name=path.name,
            unet_lora_adapter_metadata=lora_config(rank, UNET_TARGETS).to_dict(),
            text_encoder_lora_adapter_metadata=(
                lora_config(rank, TEXT_TARGETS).to_dict() if text_encoder else None
            ),
        )
    return path


def make_test_loras(root: Path) -> dict[str, Path]:
    """The set the tests share: two diffusers-format LoRAs (one also for the text
    encoder), two kohya ones (with and without `ss_*` metadata) and one for another
    architecture (wider cross-attention)."""
    return {
        "style": write_lora(root / "style.safetensors", seed=1),
        "detail": write_lora(root / "detail.safetensors", seed=2, text_encoder=False),
        "shapes": write_lora(
            root / "shapes.safetensors", seed=3, fmt="kohya", metadata=KOHYA_METADATA
        ),
        "shapes_bare": write_lora(root / "shapes_bare.safetensors", seed=4, fmt="kohya"),
        "wide": write_lora(root / "wide.safetensors", seed=5, cross_attention_dim=64),
    }


def write_colour_swap_lora(
    path: Path, source: str = "red", target: str = "green", steps: int = 80, rank: int = 8
) -> Path:
    """A real LoRA for the embedded `tiny-shapes` model, trained in seconds: a text-encoder
    adapter that makes every prompt saying `source` encode as the same prompt saying
    `target` (and leaves prompts without `source` as they were), so the model draws the
    `target` colour where it was asked for `source`. Saved in the diffusers format."""
    from transformers import CLIPTextModel, CLIPTokenizer

    from novagenia.embedded import EMBEDDED_DIR, shapes

    model_dir = EMBEDDED_DIR / "tiny-shapes"  # only its tokenizer and text encoder are needed
    tokenizer = CLIPTokenizer.from_pretrained(model_dir / "tokenizer")
    encoder = CLIPTextModel.from_pretrained(model_dir / "text_encoder", dtype=torch.float32)
    encoder.requires_grad_(False)
    prompts = [
        shapes.prompt_for(colour, shape, background)
        for colour in shapes.COLOUR_NAMES
        for background in shapes.COLOUR_NAMES
        for shape in shapes.SHAPES
        if colour != background
    ]
    swapped = [p.replace(f" {source} ", f" {target} ") for p in prompts]

    def ids(texts: list[str]) -> torch.Tensor:
        return tokenizer(
            texts, padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt"
        ).input_ids

    with torch.no_grad():
        wanted = encoder(ids(swapped))[0]
    # scale 1: weight 1 applies exactly what was trained
    config = lora_config(rank, TEXT_TARGETS + ["fc1", "fc2"], alpha=rank)
    encoder = inject_adapter_in_model(config, encoder)
    torch.manual_seed(0)
    trainable = [p for n, p in encoder.named_parameters() if "lora_" in n]
    for p in trainable:
        p.requires_grad_(True)
    optimiser = torch.optim.Adam(trainable, lr=1e-2)
    inputs = ids(prompts)
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(encoder(inputs)[0], wanted)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    path.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        path.parent,
        text_encoder_lora_layers=get_peft_model_state_dict(encoder),
        weight_name=path.name,
        text_encoder_lora_adapter_metadata=config.to_dict(),
    )
    return path
