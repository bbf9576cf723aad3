"""Tiny random pipelines of every text-to-image family the engine serves, built locally
the way diffusers' own test suite builds them (a few channels, one or two layers, a
tokenizer made here), saved as standard diffusers folders so they install and load like
Hub downloads. Seconds to build, a fraction of a second per step on one CPU core."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import (
    AutoencoderDC,
    AutoencoderKL,
    ControlNetModel,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    FluxPipeline,
    FluxTransformer2DModel,
    PixArtSigmaPipeline,
    PixArtTransformer2DModel,
    SanaPipeline,
    SanaTransformer2DModel,
    SD3Transformer2DModel,
    StableDiffusion3Pipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    Gemma2Config,
    Gemma2Model,
    GemmaTokenizerFast,
    T5Config,
    T5EncoderModel,
    T5TokenizerFast,
)

from novagenia.embedded.tokenizer import build_clip_tokenizer

# The scheduler configs of the flow-matching families: SD3's, Flux's (dynamic shift),
# Sana's (DPM-Solver on flow sigmas)
FLOW_SCHEDULER = {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}
FLUX_SCHEDULER = {**FLOW_SCHEDULER, "use_dynamic_shifting": True}
SANA_SCHEDULER = {
    "_class_name": "DPMSolverMultistepScheduler",
    "prediction_type": "flow_prediction",
    "use_flow_sigmas": True,
    "flow_shift": 3.0,
}
WORDS = ("a", "red", "circle", "blue", "square", "on", "background", "cat", "photo", "of")
TEXT_DIM = 32


def sentencepiece_like(special: list[str]) -> Tokenizer:
    """A Unigram tokenizer over the test words plus single characters (so any text
    tokenizes), with SentencePiece's `▁` word marker, as T5's and Gemma's are."""
    pieces = [(token, 0.0) for token in special]
    pieces += [("▁" + word, -1.0) for word in WORDS]
    pieces += [(chr(c), -5.0) for c in range(32, 127)] + [("▁", -2.0)]
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=special.index("<unk>")))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    return tokenizer


def t5_tokenizer() -> T5TokenizerFast:
    return T5TokenizerFast(
        tokenizer_object=sentencepiece_like(["<pad>", "</s>", "<unk>"]),
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        extra_ids=0,
        model_max_length=512,
    )


def t5_encoder(vocab: int) -> T5EncoderModel:
    return T5EncoderModel(
        T5Config(
            vocab_size=vocab,
            d_model=TEXT_DIM,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            decoder_start_token_id=0,
        )
    )


def clip_encoder(
    tokenizer, projection: bool = False, layers: int = 2, hidden: int = TEXT_DIM
) -> CLIPTextModel:
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=layers,
        max_position_embeddings=77,
        projection_dim=TEXT_DIM,
        hidden_act="gelu",
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def kl_vae(latent_channels: int = 4, **extra) -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=latent_channels,
        block_out_channels=(16, 32),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
        **extra,
    )


def build_sdxl(text_dim_2: int = TEXT_DIM, text_layers_2: int = 2) -> StableDiffusionXLPipeline:
    """`text_dim_2`, `text_layers_2`: the second (OpenCLIP) text encoder's width and depth;
    a single-file checkpoint is told apart by them (tests/single_file.py)."""
    tokenizer = build_clip_tokenizer(WORDS)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=TEXT_DIM + 6 * 8,
        cross_attention_dim=TEXT_DIM + text_dim_2,
        norm_num_groups=8,
    )
    return StableDiffusionXLPipeline(
        vae=kl_vae(),
        text_encoder=clip_encoder(tokenizer),
        text_encoder_2=clip_encoder(
            tokenizer, projection=True, layers=text_layers_2, hidden=text_dim_2
        ),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            timestep_spacing="leading",
            steps_offset=1,
        ),
        force_zeros_for_empty_prompt=True,
    )


def build_sd3() -> StableDiffusion3Pipeline:
    clip = build_clip_tokenizer(WORDS)
    t5 = t5_tokenizer()
    transformer = SD3Transformer2DModel(
        sample_size=32,
        patch_size=2,
        in_channels=16,  # SD3's VAE has 16 latent channels; its inpainting pipeline checks
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=TEXT_DIM,
        joint_attention_dim=TEXT_DIM,
        pooled_projection_dim=2 * TEXT_DIM,
        out_channels=16,
    )
    return StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=kl_vae(latent_channels=16, shift_factor=0.0609, scaling_factor=1.5035),
        text_encoder=clip_encoder(clip, projection=True),
        tokenizer=clip,
        text_encoder_2=clip_encoder(clip, projection=True),
        tokenizer_2=clip,
        text_encoder_3=t5_encoder(len(t5)),
        tokenizer_3=t5,
    )


def build_flux(distilled_guidance: bool = True) -> FluxPipeline:
    """Flux dev (`guidance_embeds`) or, without it, schnell."""
    clip = build_clip_tokenizer(WORDS)
    t5 = t5_tokenizer()
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4 * 4,  # latents packed 2 × 2
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=TEXT_DIM,
        pooled_projection_dim=TEXT_DIM,
        axes_dims_rope=(4, 4, 8),
        guidance_embeds=distilled_guidance,
    )
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(
            shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15
        ),
        vae=kl_vae(shift_factor=0.1159, scaling_factor=0.3611),
        text_encoder=clip_encoder(clip),
        tokenizer=clip,
        text_encoder_2=t5_encoder(len(t5)),
        tokenizer_2=t5,
        transformer=transformer,
    )


def build_pixart_sigma() -> PixArtSigmaPipeline:
    t5 = t5_tokenizer()
    transformer = PixArtTransformer2DModel(
        sample_size=32,
        num_layers=2,
        patch_size=2,
        attention_head_dim=8,
        num_attention_heads=3,
        caption_channels=TEXT_DIM,
        in_channels=4,
        cross_attention_dim=24,
        out_channels=8,  # learned sigma, as PixArt ships
        attention_bias=True,
        activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000,
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
    )
    return PixArtSigmaPipeline(
        tokenizer=t5,
        text_encoder=t5_encoder(len(t5)),
        vae=kl_vae(),
        transformer=transformer,
        scheduler=DPMSolverMultistepScheduler(
            beta_schedule="linear", beta_start=0.0001, beta_end=0.02, num_train_timesteps=1000
        ),
    )


def build_sana() -> SanaPipeline:
    tokenizer = GemmaTokenizerFast(
        tokenizer_object=sentencepiece_like(["<pad>", "<eos>", "<bos>", "<unk>"]),
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        model_max_length=300,
    )
    text_encoder = Gemma2Model(
        Gemma2Config(
            vocab_size=len(tokenizer),
            head_dim=8,
            hidden_size=TEXT_DIM,
            intermediate_size=37,
            num_attention_heads=2,
            num_hidden_layers=1,
            num_key_value_heads=2,
            max_position_embeddings=512,
            pad_token_id=0,
            eos_token_id=1,
            bos_token_id=2,
        )
    )
    transformer = SanaTransformer2DModel(
        patch_size=1,
        in_channels=4,
        out_channels=4,
        num_layers=1,
        num_attention_heads=2,
        attention_head_dim=4,
        num_cross_attention_heads=2,
        cross_attention_head_dim=4,
        cross_attention_dim=8,
        caption_channels=TEXT_DIM,
        sample_size=32,
    )
    vae = AutoencoderDC(
        in_channels=3,
        latent_channels=4,
        attention_head_dim=2,
        encoder_block_types=("ResBlock", "EfficientViTBlock"),
        decoder_block_types=("ResBlock", "EfficientViTBlock"),
        encoder_block_out_channels=(8, 8),
        decoder_block_out_channels=(8, 8),
        encoder_qkv_multiscales=((), (5,)),
        decoder_qkv_multiscales=((), (5,)),
        encoder_layers_per_block=(1, 1),
        decoder_layers_per_block=(1, 1),
        downsample_block_type="conv",
        upsample_block_type="interpolate",
        decoder_norm_types="rms_norm",
        decoder_act_fns="silu",
        scaling_factor=0.41407,
    )
    return SanaPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=DPMSolverMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
        ),
    )


BUILDERS: dict[str, Callable[[], object]] = {
    "tiny-sdxl": build_sdxl,
    "tiny-sd3": build_sd3,
    "tiny-flux-dev": build_flux,
    "tiny-flux-schnell": lambda: build_flux(distilled_guidance=False),
    "tiny-pixart-sigma": build_pixart_sigma,
    "tiny-sana": build_sana,
}


def save_tiny_family(name: str, target: Path) -> Path:
    """Builds `name` (a key of BUILDERS) with fixed random weights into `target`."""
    torch.manual_seed(0)
    BUILDERS[name]().save_pretrained(target, safe_serialization=True)
    return target


def save_tiny_controlnet(name: str, target: Path) -> Path:
    """A random ControlNet made from `name`'s UNet (a key of BUILDERS), its conditioning
    embedding downsampling pictures by the family VAE's own factor."""
    torch.manual_seed(0)
    pipeline = BUILDERS[name]()
    downsamplings = len(pipeline.vae.config.block_out_channels) - 1
    channels = tuple(16 * 2**i for i in range(downsamplings + 1))
    controlnet = ControlNetModel.from_unet(
        pipeline.unet, conditioning_embedding_out_channels=channels
    )
    # from_unet starts its output convolutions at zero (no effect until trained)
    zero_convs = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]
    for conv in zero_convs:
        torch.nn.init.normal_(conv.weight, std=0.05)
    controlnet.save_pretrained(target, safe_serialization=True)
    return target


LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def write_family_lora(name: str, path: Path, seed: int, rank: int = 4) -> Path:
    """A diffusers-format LoRA for the tiny model `name`, made the way trainers make them
    (a peft adapter on the denoiser's attention), with random non-zero weights."""
    pipeline = BUILDERS[name]()
    part = "unet" if hasattr(pipeline, "unet") else "transformer"
    denoiser = getattr(pipeline, part)
    config = LoraConfig(r=rank, lora_alpha=rank, target_modules=LORA_TARGETS)
    denoiser.add_adapter(config)
    generator = torch.Generator().manual_seed(seed)
    layers = {
        key: (torch.randn(value.shape, generator=generator) * 0.5).contiguous()
        for key, value in get_peft_model_state_dict(denoiser).items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    type(pipeline).save_lora_weights(
        path.parent,
        weight_name=path.name,
        **{f"{part}_lora_layers": layers, f"{part}_lora_adapter_metadata": config.to_dict()},
    )
    return path


# kohya (sd-scripts) layer names of the tiny models, in the original architectures' naming
# that only diffusers' converters map: SDXL's LDM UNet blocks (tiny SDXL: one resnet per
# level, attention in the second level, the middle block and the first up level), Flux's
# double blocks; with the inner width of each.
KOHYA_LAYERS = {
    "tiny-sdxl": (
        [
            f"lora_unet_{block}_transformer_blocks_0_{projection}"
            for block in ("input_blocks_3_1", "middle_block_1", "output_blocks_0_1")
            for projection in ("attn1_to_q", "attn1_to_out_0")
        ],
        64,
    ),
    "tiny-flux-dev": (
        ["lora_unet_double_blocks_0_img_attn_proj", "lora_unet_double_blocks_0_txt_attn_proj"],
        32,
    ),
}


def write_kohya_lora(name: str, path: Path, seed: int, rank: int = 4) -> Path:
    """A kohya-format LoRA (`lora_down`/`lora_up`/`alpha` per layer) for the tiny model
    `name`, with random non-zero weights."""
    layers, width = KOHYA_LAYERS[name]
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for layer in layers:
        tensors[f"{layer}.lora_down.weight"] = torch.randn(rank, width, generator=generator) * 0.5
        tensors[f"{layer}.lora_up.weight"] = torch.randn(width, rank, generator=generator) * 0.5
        tensors[f"{layer}.alpha"] = torch.tensor(float(rank))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, path)
    return path
