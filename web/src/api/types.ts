// The public contract of /api/v1 as the app uses it (see DESIGN.md and
// novagenia/jobs/schemas.py, the source of truth for jobs).

export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export const FINISHED: readonly JobStatus[] = ["succeeded", "failed", "cancelled"];

export interface LoraRef {
  name: string;
  weight: number;
}

export interface GenerationRequest {
  prompt: string;
  negative_prompt: string;
  model?: string | null;
  width?: number | null;
  height?: number | null;
  steps: number;
  guidance_scale: number;
  seed?: number | null;
  sampler: string;
  batch_size: number;
  loras: LoraRef[];
  priority: number;
  user?: string | null;
}

export interface Progress {
  step: number;
  total_steps: number;
  elapsed_s: number;
  eta_s: number | null;
}

export interface ImageInfo {
  index: number;
  url: string;
  seed: number;
  width: number;
  height: number;
}

export interface Job {
  id: string;
  status: JobStatus;
  request: GenerationRequest;
  model: string;
  priority: number;
  user: string | null;
  position: number | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  progress: Progress | null;
  images: ImageInfo[];
  error: string | null;
  attempts: number;
  cancel_requested: boolean;
  worker: string | null;
}

export interface JobPage {
  jobs: Job[];
  next_cursor: string | null;
}

export interface QueueState {
  counts: Record<JobStatus, number>;
  models: Record<string, { queued: number; running: number }>;
  queued: Job[];
  running: Job[];
}

export interface ModelInfo {
  id: string;
  source: string;
  pipeline_class: string | null;
  size_bytes: number;
  /** Pixels per side the model was trained at (its default size). */
  native_size?: number;
  default: boolean;
  /** Replicas holding the model in memory, where the server reports it. */
  loaded_on?: string[];
  /** Names of the samplers that apply to it (GET /samplers has their labels). */
  samplers: string[];
  /** False for the embedded models and the default one. */
  deletable: boolean;
}

export interface Sampler {
  name: string;
  label: string;
}

export interface AppConfig {
  version: string;
  default_model: string;
  auth_required: boolean;
  max_batch_size: number;
  limits: { min_size: number; max_size: number; max_steps: number; max_batch_size: number };
}

export interface Lora {
  name: string;
  title: string;
  description: string;
  tags: string[];
  trigger_words: string[];
  default_weight: number;
  base_model: string | null;
  preview_url: string | null;
  size_bytes: number;
  rank: number | null;
  alpha: number | null;
  format: string;
  /** Ids of the installed models whose layers it fits. */
  fits: string[];
}

export type LoraUpdate = Partial<
  Pick<Lora, "title" | "description" | "tags" | "trigger_words" | "default_weight">
>;

export interface HubModel {
  id: string;
  downloads: number | null;
  likes: number | null;
  tags: string[];
  last_modified: string | null;
  pipeline_class: string | null;
  gated: boolean | string;
  private: boolean;
}

export type DownloadStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface Download {
  id: string;
  repo_id: string;
  status: DownloadStatus;
  bytes_done: number;
  /** 0 while unknown. */
  bytes_total: number | null;
  files_done: number;
  files_total: number | null;
  error: string | null;
}

export interface Gpu {
  index: number;
  name: string;
  memory_used: number;
  memory_total: number;
  utilization: number | null;
  temperature: number | null;
  power_w: number | null;
}

export interface ClusterNode {
  id: string;
  address: string;
  alive: boolean;
  is_head: boolean;
  resources_total: Record<string, number>;
  resources_used: Record<string, number>;
  gpus: Gpu[];
}

export interface Replica {
  id: string;
  node_id: string | null;
  state: string;
}

export interface Deployment {
  name: string;
  status: string;
  target_replicas: number;
  running_replicas: number;
  replicas?: Replica[];
}

export interface ClusterState {
  nodes: ClusterNode[];
  deployments: Deployment[];
  queue: Record<string, number>;
  dashboard_url: string | null;
}

interface EventBase {
  job_id: string;
  cursor: number;
  ts: number;
  snapshot?: boolean;
}

export type JobEvent =
  | (EventBase & { type: "queued" | "started" | "succeeded" | "failed" | "cancelled"; job: Job })
  | (EventBase & {
      type: "progress";
      step: number;
      total_steps: number;
      elapsed_s: number;
      eta_s: number | null;
    })
  | (EventBase & { type: "preview"; step: number; image: string })
  | (EventBase & { type: "download"; download: Download });
