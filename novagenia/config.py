"""Application arguments: the `args` block of `serve_config.yaml`, validated once.

Every field has a description so the same model documents the YAML (see README).
"""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from novagenia.jobs.quotas import Quota
from novagenia.jobs.webhook_policy import WebhookPolicy

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_WEB_DIST = PACKAGE_DIR.parent / "web" / "dist"

# What a configuration may raise the request limits to; a request is checked against the
# configured limits (`submission.resolve_request`), its schema only against these.
CEILING_SIZE = 4096
CEILING_STEPS = 1000
CEILING_IMAGES_PER_JOB = 64


class AutoscalingArgs(BaseModel):
    """Bounds for the Diffusion deployment's autoscaler (Serve `autoscaling_config`)."""

    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(1, ge=0, description="Replicas kept when idle (0 = scale to zero).")
    max_replicas: int = Field(1, ge=1, description="Upper bound on replicas.")
    target_ongoing_requests: float = Field(
        1.0, gt=0, description="Tickets per replica the autoscaler aims for (1 = one job each)."
    )
    upscale_delay_s: float = Field(
        2.0, ge=0, description="How long a backlog must last to add replicas."
    )
    downscale_delay_s: float = Field(
        120.0,
        ge=0,
        description="How long replicas must be idle before removal (jobs take seconds).",
    )

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingArgs:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self


class MemoryPlan(BaseModel):
    """How one model holds its weights: for big models on small GPUs (engine/memory.py)."""

    model_config = ConfigDict(extra="forbid")

    quantize: Literal["none", "int8"] = Field(
        "none",
        description="'int8': the denoiser's linear weights stored as int8 (torchao "
        "weight-only; install novagenia[quantization]), computed in the model's dtype: "
        "about half the memory of bf16 weights, a quarter of float32.",
    )
    offload: Literal["none", "model", "group"] = Field(
        "none",
        description="CUDA only (a CPU replica holds everything in host memory already). "
        "'model': each component moves onto the GPU while it runs (diffusers' model CPU "
        "offload); 'group': the denoiser's blocks stream in one at a time (group "
        "offloading): least GPU memory, slowest. Either turns `compile` off for the model.",
    )
    vae_slicing: bool = Field(
        False, description="Decode a batch one image at a time: less peak memory, a bit slower."
    )
    vae_tiling: bool = Field(
        True, description="Decode images larger than the VAE's tile in overlapping tiles."
    )


class AppArgs(BaseModel):
    """Everything `build_app` needs. Unknown keys are an error, so typos fail at start."""

    model_config = ConfigDict(extra="forbid")

    app_name: str = Field(
        "novagenia", description="Serve application name (must match serve_config)."
    )
    data_dir: Path = Field(Path("data"), description="Models, LoRAs, the job database, outputs.")
    output_uri: str | None = Field(
        None,
        description="Where images go: a local path or any fsspec URI (s3://…, gs://…). "
        "Defaults to <data_dir>/outputs. Use shared storage when replicas span nodes.",
    )
    default_model: str | None = Field(
        None, description="Model id used when a request names none; the embedded model when absent."
    )
    gpus_per_replica: Literal["auto"] | float = Field(
        "auto",
        description="GPUs per Diffusion replica: 1, 0.5, 0.25… or 0 for CPU; "
        "'auto' = 1 when the cluster has GPUs, else CPU.",
    )
    cpus_per_replica: float = Field(1.0, ge=0, description="CPUs reserved per Diffusion replica.")
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = Field(
        "auto",
        description="Weights dtype on CUDA ('auto' = bf16 where supported, else fp16); CPU uses float32.",
    )
    compile: Literal["auto", "on", "off"] = Field(
        "auto",
        description="The compiled fast path (torch.compile of the denoiser and the VAE "
        "decoder, CUDA graphs on CUDA, fused QKV projections), warmed at load and cached "
        "under <data_dir>/compile-cache. 'auto' = on CUDA, off on CPU (where each new image "
        "size compiles for about a minute).",
    )
    compile_warmup_batches: list[Annotated[int, Field(ge=1, le=64)]] = Field(
        default_factory=lambda: [1],
        max_length=8,
        description="Batch sizes compiled and warmed at each model's native size at load.",
    )
    bookkeeping_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="Nice value of the Ingress and job board processes, so that where they "
        "share CPUs with a replica denoising on the CPU the denoising goes first (0 = as is).",
    )
    model_memory: dict[str, MemoryPlan] = Field(
        default_factory=dict,
        description="Memory strategy per model: keys are model ids or patterns "
        "('black-forest-labs/*'); the first key that matches, in order, applies; other "
        "models use MemoryPlan's defaults.",
    )
    autoscaling: AutoscalingArgs = Field(default_factory=AutoscalingArgs)
    ingress_replicas: int = Field(1, ge=1, description="Ingress (HTTP/WebSocket) replicas.")
    ingress_max_ongoing_requests: int = Field(
        2000, ge=10, description="Per ingress replica; every open WebSocket holds one slot."
    )
    max_models_per_replica: int = Field(
        2, ge=1, description="Pipelines kept loaded per replica (LRU)."
    )
    max_queue_length: int = Field(
        1000, ge=1, description="Queued jobs beyond which submit gets 503."
    )
    lora_dir: Path | None = Field(
        None,
        description="The LoRA library: `<name>.safetensors` files with an optional "
        "`<name>.json` (metadata) and `<name>.png` (preview). Defaults to <data_dir>/loras; "
        "use shared storage when replicas span nodes.",
    )
    max_lora_upload_mb: float = Field(
        1024, gt=0, description="Largest LoRA file accepted by `POST /loras` (MB)."
    )
    max_loras_per_model: int = Field(
        8,
        ge=1,
        description="LoRA adapters a replica keeps loaded per pipeline (LRU), so repeated "
        "LoRA sets switch without reading files.",
    )
    max_batch_jobs: int = Field(
        16,
        ge=1,
        le=64,
        description="Most compatible queued jobs a replica runs as one pipeline call.",
    )
    max_batch_images: Annotated[int, Field(ge=1, le=512)] | Literal["auto"] = Field(
        "auto",
        description="Most images in one pipeline call (a batch of jobs stops before it); "
        "a single job larger than this still runs alone. 'auto' = 8 on CPU; on CUDA up to "
        "64, as many as the memory left after loading holds (measured per model at load).",
    )
    batch_wait_s: float = Field(
        0.0,
        ge=0,
        le=5,
        description="When other jobs are queued, wait this long for compatible ones to fill a batch.",
    )
    max_image_size: int = Field(
        2048, ge=64, le=CEILING_SIZE, description="Largest width/height accepted."
    )
    max_steps: int = Field(
        150, ge=1, le=CEILING_STEPS, description="Most denoising steps accepted."
    )
    max_images_per_job: int = Field(
        8, ge=1, le=CEILING_IMAGES_PER_JOB, description="Largest `batch_size` accepted."
    )
    max_input_mb: float = Field(
        16, gt=0, description="Largest input image (init image, mask) accepted, in MB."
    )
    max_request_bytes: int = Field(
        1 << 20, ge=1024, description="Largest JSON request body (uploads have their own limit)."
    )
    preview_every_steps: int = Field(
        5, ge=0, description="Send a live preview every N steps (0 = never)."
    )
    lease_timeout_s: float = Field(
        60.0, gt=0, description="A running job whose worker is silent this long is requeued."
    )
    max_attempts: int = Field(3, ge=1, description="Runs a job may take before it is failed.")
    shutdown_grace_s: float = Field(
        5.0,
        ge=0,
        le=600,
        description="How long a stopping Diffusion replica may finish its batch (Ctrl-C, "
        "downscale, redeploy); a batch cut short goes back to the queue.",
    )
    event_log_capacity: int = Field(
        20_000,
        ge=100,
        description="Events the board keeps for replay; older ones are compacted away "
        "(a client that far behind gets a snapshot of its jobs instead).",
    )
    job_retention_s: float | None = Field(
        None,
        gt=0,
        description="Finished jobs older than this (seconds since they ended) are deleted "
        "with their pictures and webhook deliveries; None keeps them.",
    )
    job_retention_by_user: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict,
        description="`job_retention_s` for the jobs of one user (the job's `user`: the name "
        "a request gave, else its API key's label), e.g. {'key-1a2b3c4d': 86400}.",
    )
    retention_sweep_s: float = Field(
        60.0, ge=1, description="How often the board deletes what outlived its retention."
    )
    min_free_disk_mb: float = Field(
        1024.0,
        ge=0,
        description="Below this much free space where the pictures go (a local output_uri), "
        "new jobs are refused with 507 instead of failing on a full disk.",
    )
    quota: Quota = Field(
        default_factory=Quota,
        description="What one submitter (an API key; a request's `user` without keys) may "
        "queue: `max_queued_jobs` at once, `images_per_minute`; beyond, 429 with Retry-After.",
    )
    quota_by_user: dict[str, Quota] = Field(
        default_factory=dict,
        description="`quota` for one submitter, by its API key's label (`key-1a2b3c4d`, as "
        "jobs show in `owner`) or, without keys, the `user` it names.",
    )
    idempotency_window_s: float = Field(
        86_400.0,
        ge=1,
        description="How long an `Idempotency-Key` on a submit stands for its job: the same "
        "key and request within it return that job; the same key with another request is "
        "a 409. Older keys are forgotten.",
    )
    webhook_hosts: list[str] = Field(
        default_factory=list,
        description="When non-empty, the only hosts job webhooks may call ('hooks.example."
        "com', or '*.example.com' for its subdomains); empty: any host with a public address.",
    )
    webhook_private_networks: list[str] = Field(
        default_factory=list,
        description="Networks (CIDR) webhooks may call although loopback, private or link-"
        "local, e.g. ['10.0.0.0/8'] for receivers inside your network. Empty: none, so a "
        "webhook URL cannot reach the server's own network (no request forgery).",
    )
    webhook_retry_for_s: float = Field(
        3600.0,
        ge=0,
        description="How long a webhook delivery is retried (exponential backoff from 1 s, "
        "at most 10 min apart) before it is marked failed.",
    )
    webhook_timeout_s: float = Field(
        10.0, gt=0, le=120, description="How long one webhook try waits for an answer."
    )
    api_keys: list[str] = Field(
        default_factory=list,
        description="When non-empty, state-changing routes need `Authorization: Bearer <key>`. "
        "Also read from NOVAGENIA_API_KEYS (comma separated).",
    )
    auth_reads: bool = Field(
        False, description="Require the API key for reads (GETs, WebSocket) too."
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Extra origins allowed by CORS (the app's own always is)."
    )
    web_dist: Path = Field(DEFAULT_WEB_DIST, description="The built PWA served at /.")
    dashboard_url: str | None = Field(
        None,
        description="Ray dashboard link shown by /api/v1/cluster and the web app; "
        "default: the address Ray reports (reachable where the head's port 8265 is).",
    )
    hub_endpoint: str | None = Field(
        None,
        description="Hugging Face Hub URL for search and downloads (a mirror, or a local "
        "Hub-compatible server in tests); None = huggingface_hub's default (HF_ENDPOINT). "
        "The token comes from HF_TOKEN or `hf auth login` on the head node.",
    )

    @field_validator("gpus_per_replica")
    @classmethod
    def _non_negative(cls, value: str | float) -> str | float:
        if isinstance(value, float) and value < 0:
            raise ValueError("gpus_per_replica must be >= 0 or 'auto'")
        if isinstance(value, float) and value > 1 and not value.is_integer():
            raise ValueError("gpus_per_replica above 1 must be a whole number (Ray's rule)")
        return value

    @field_validator("webhook_private_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # ValueError names the bad one
        return value

    def memory_plan(self, model_id: str) -> MemoryPlan:
        """The `model_memory` entry for `model_id` (first match), else the defaults."""
        for pattern, plan in self.model_memory.items():
            if fnmatch.fnmatchcase(model_id, pattern):
                return plan
        return MemoryPlan()

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def compile_cache_dir(self) -> Path:
        return self.data_dir / "compile-cache"

    @property
    def loras_dir(self) -> Path:
        return self.lora_dir or self.data_dir / "loras"

    @property
    def webhook_policy(self) -> WebhookPolicy:
        return WebhookPolicy.of(self.webhook_hosts, self.webhook_private_networks)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @property
    def resolved_output_uri(self) -> str:
        return self.output_uri or str(self.data_dir / "outputs")

    @property
    def board_name(self) -> str:
        """One board per app and data dir, so a stale board never serves another config."""
        digest = hashlib.sha1(str(self.data_dir.resolve()).encode()).hexdigest()[:8]
        return f"{self.app_name}-board-{digest}"

    @property
    def downloader_name(self) -> str:
        """The Model Hub's download actor, one per board (see `novagenia.hub`)."""
        return self.board_name.replace("-board-", "-hub-", 1)

    def absolute(self) -> AppArgs:
        """Paths made absolute where the app is built: replicas may run in other cwds."""
        return self.model_copy(
            update={
                "data_dir": self.data_dir.resolve(),
                "web_dist": self.web_dist.resolve(),
                "lora_dir": self.lora_dir.resolve() if self.lora_dir else None,
            }
        )
