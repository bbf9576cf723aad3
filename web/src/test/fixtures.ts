import { vi } from "vitest";

import type { AppConfig, Capabilities, Download, Job, JobEvent, Lora, ModelInfo, Sampler } from "../api/types";
import { useAuth } from "../stores/auth";
import { useCatalog } from "../stores/catalog";
import { useDownloads } from "../stores/downloads";
import { useJobs } from "../stores/jobs";
import { useServer } from "../stores/server";
import { useStudio } from "../stores/studio";
import { useToasts } from "../stores/toasts";
import { useViewer } from "../stores/viewer";

let counter = 0;

export function makeJob(overrides: Partial<Job> = {}): Job {
  counter += 1;
  const id = overrides.id ?? `job${counter}`;
  return {
    id,
    status: "queued",
    request: {
      prompt: `prompt of ${id}`,
      negative_prompt: "",
      model: "novagenia/tiny-random",
      width: 128,
      height: 128,
      steps: 20,
      guidance_scale: 7,
      seed: 42,
      sampler: "euler_a",
      batch_size: 1,
      loras: [],
      speed: "quality",
      tiling: false,
      hires: null,
      init_image: null,
      strength: 0.75,
      mask: null,
      mask_blur: 4,
      invert_mask: false,
      mask_crop_padding: null,
      upscale: null,
      controlnet: [],
      priority: overrides.priority ?? 0,
      user: null,
      webhook: null,
      cancel_after: null,
    },
    model: "novagenia/tiny-random",
    priority: 0,
    user: null,
    owner: null,
    position: null,
    created_at: 1000 + counter,
    started_at: null,
    finished_at: null,
    progress: null,
    images: [],
    error: null,
    attempts: 0,
    moved_to_front: null,
    cancel_requested: false,
    worker: null,
    ...overrides,
  };
}

export function makeLora(overrides: Partial<Lora> = {}): Lora {
  return {
    name: "pixel_art",
    title: "Pixel art",
    description: "",
    tags: ["style"],
    trigger_words: ["pixel style"],
    default_weight: 0.8,
    base_model: "sd1",
    base_model_name: null,
    resolution: null,
    preview_url: null,
    size_bytes: 1024,
    rank: 4,
    alpha: 4,
    format: "kohya",
    fits: ["novagenia/tiny-random"],
    ...overrides,
  };
}

export const SAMPLERS: Sampler[] = [
  { name: "euler_a", label: "Euler a" },
  { name: "dpmpp_2m", label: "DPM++ 2M" },
];

export const SD_CAPABILITIES: Capabilities = {
  family: "sd",
  family_label: "Stable Diffusion 1.x/2.x",
  default_sampler: "euler_a",
  default_steps: 20,
  default_guidance: 7,
  guidance: "cfg",
  negative_prompt: true,
  loras: true,
  size_multiple: 8,
  image_inputs: true,
  tiling: true,
  controlnet: true,
  inpaint_only: false,
  latent_upscale: true,
};

/** Flux schnell's: flow samplers, four steps, no guidance, no negative prompt. */
export const SCHNELL_CAPABILITIES: Capabilities = {
  family: "flux",
  family_label: "Flux",
  default_sampler: "flow_euler",
  default_steps: 4,
  default_guidance: 0,
  guidance: "none",
  negative_prompt: false,
  loras: false,
  size_multiple: 16,
  image_inputs: true,
  tiling: false,
  controlnet: false,
  inpaint_only: false,
  latent_upscale: false,
};

/** The embedded default model, as GET /models describes it. */
export function makeModel(overrides: Partial<ModelInfo> = {}): ModelInfo {
  return {
    id: "novagenia/tiny-random",
    source: "embedded",
    pipeline_class: "StableDiffusionPipeline",
    size_bytes: 0,
    native_size: 128,
    default: true,
    samplers: SAMPLERS.map((s) => s.name),
    capabilities: SD_CAPABILITIES,
    loaded_on: [],
    memory: { quantize: "none", offload: "none", vae_slicing: false, vae_tiling: true },
    deletable: false,
    ...overrides,
  };
}

/** A Model Hub download just accepted (sizes are 0 until the file list is known). */
export function makeDownload(overrides: Partial<Download> = {}): Download {
  const repoId = overrides.repo_id ?? "stabilityai/sd-turbo";
  return {
    id: "d1",
    repo_id: repoId,
    revision: null,
    variant: null,
    status: "queued",
    model_id: repoId,
    bytes_done: 0,
    bytes_total: 0,
    files_done: 0,
    files_total: 0,
    error: null,
    created_at: 1000,
    finished_at: null,
    ...overrides,
  };
}

export function makeConfig(overrides: Partial<AppConfig> = {}): AppConfig {
  return {
    version: "0.1.0",
    default_model: "novagenia/tiny-random",
    auth_required: false,
    limits: { min_size: 64, max_size: 2048, max_steps: 150, max_batch_size: 8 },
    ...overrides,
  };
}

type Ev = JobEvent;
export const jobEvent = (type: "queued" | "started" | "succeeded" | "failed" | "cancelled", job: Job, cursor: number, snapshot = false): Ev => ({
  type,
  job,
  job_id: job.id,
  cursor,
  ts: cursor,
  snapshot,
});

export const progressEvent = (jobId: string, step: number, cursor: number, total = 20): Ev => ({
  type: "progress",
  job_id: jobId,
  cursor,
  ts: cursor,
  step,
  total_steps: total,
  elapsed_s: step * 0.1,
  eta_s: (total - step) * 0.1,
});

export interface Call {
  method: string;
  url: string;
  body: unknown;
  headers: Record<string, string>;
}

type Handler = (call: Call) => { status?: number; body?: unknown } | undefined;

/** Replaces fetch with a table of routes ("METHOD /path" → answer); records every call. */
export function mockApi(routes: Record<string, Handler | { status?: number; body?: unknown }>) {
  const calls: Call[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input);
    const method = (init.method ?? "GET").toUpperCase();
    const path = url.replace(/^https?:\/\/[^/]+/, "").split("?")[0].replace(/^\/api\/v1/, "");
    let body: unknown = init.body;
    if (typeof init.body === "string") body = JSON.parse(init.body);
    const call: Call = { method, url, body, headers: (init.headers ?? {}) as Record<string, string> };
    calls.push(call);
    const route = routes[`${method} ${path}`];
    const answer = typeof route === "function" ? route(call) : route;
    if (!answer) {
      return new Response(JSON.stringify({ detail: "Not Found" }), { status: 404, headers: { "content-type": "application/json" } });
    }
    const status = answer.status ?? 200;
    return new Response(status === 204 ? null : JSON.stringify(answer.body ?? null), {
      status,
      headers: { "content-type": "application/json" },
    });
  });
  vi.stubGlobal("fetch", fetchMock);
  return { calls, fetchMock };
}

const initial = {
  jobs: useJobs.getState(),
  catalog: useCatalog.getState(),
  studio: useStudio.getState(),
  toasts: useToasts.getState(),
  auth: useAuth.getState(),
  downloads: useDownloads.getState(),
  viewer: useViewer.getState(),
  server: useServer.getState(),
};

/** Every store back to its first state. */
export function resetStores(): void {
  useJobs.setState(initial.jobs, true);
  useCatalog.setState(initial.catalog, true);
  useStudio.setState(initial.studio, true);
  useToasts.setState(initial.toasts, true);
  useAuth.setState({ ...initial.auth, apiKey: null }, true);
  useDownloads.setState(initial.downloads, true);
  useViewer.setState(initial.viewer, true);
  useServer.setState({ ...initial.server, browserOnline: true, reachable: null }, true);
}
