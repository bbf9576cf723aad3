// The Studio's form, remembered across visits, the jobs started from it in this session
// and the one it is showing.

import { create } from "zustand";
import { persist } from "zustand/middleware";

import type { Capabilities, GenerationRequest, InputImage, Job, JobSubmission, LoraRef } from "../api/types";

/** A ControlNet unit as the form holds it: its own picture, or (null) the start picture. */
export interface ControlUnitForm {
  model: string;
  image: InputImage | null;
  preprocessor: PreprocessorName;
  weight: number;
  guidance_start: number;
  guidance_end: number;
}

export const PREPROCESSORS = ["canny", "lineart", "scribble", "tile", "none"] as const;
export type PreprocessorName = (typeof PREPROCESSORS)[number];

export const MAX_SEED = 2 ** 32 - 1;

export interface StudioForm {
  prompt: string;
  negative_prompt: string;
  model: string | null;
  sampler: string;
  /** NaN while its field holds no number (the form shows it as an error). */
  steps: number;
  guidance_scale: number;
  /** null: the model's native size. */
  width: number | null;
  height: number | null;
  /** null or -1 (AUTOMATIC1111's convention): a random seed for every run. */
  seed: number | null;
  batch_size: number;
  priority: number;
  loras: LoraRef[];
  /** "fast": step caching, a little faster for a small quality cost. */
  speed: Speed;
  /** img2img: the uploaded picture to start from, and how much of it is redrawn. */
  init_image: InputImage | null;
  strength: number;
  /** Inpainting: the painted mask over the start picture (white = redraw). */
  mask: InputImage | null;
  /** Seamless: the picture tiles (models with a UNet). */
  tiling: boolean;
  /** Hires fix: a second pass, upscaled by `hires_scale`, redrawn by `hires_strength`. */
  hires: boolean;
  hires_scale: number;
  hires_strength: number;
  /** Where the hires fix upscales: the decoded picture, or the latents (UNet models). */
  hires_upscaler: HiresUpscaler;
  /** ControlNet units: each guides the composition by a picture's edges, lines… */
  controlnet: ControlUnitForm[];
}

export type Speed = GenerationRequest["speed"];
export type HiresUpscaler = NonNullable<GenerationRequest["hires"]>["upscaler"];

export const DEFAULT_FORM: StudioForm = {
  prompt: "",
  negative_prompt: "",
  model: null,
  sampler: "euler_a",
  steps: 20,
  guidance_scale: 7,
  width: null,
  height: null,
  seed: null,
  batch_size: 1,
  priority: 0,
  loras: [],
  speed: "quality",
  init_image: null,
  strength: 0.75,
  mask: null,
  tiling: false,
  hires: false,
  hires_scale: 2,
  hires_strength: 0.5,
  hires_upscaler: "lanczos",
  controlnet: [],
};

export function inputImage(id: string, width = 0, height = 0): InputImage {
  return { id, url: `/api/v1/inputs/${id}.png`, width, height };
}

interface StudioState {
  form: StudioForm;
  /** The job shown on the canvas. */
  activeJobId: string | null;
  /** Jobs started from the Studio since the page loaded, newest first. */
  sessionJobIds: string[];
  /** Seed of the last image made here, for "reuse". */
  lastSeed: number | null;
  update: (patch: Partial<StudioForm>) => void;
  setLora: (name: string, weight: number) => void;
  removeLora: (name: string) => void;
  insertInPrompt: (text: string) => void;
  loadRequest: (request: GenerationRequest, keepSeed: boolean) => void;
  /** A job just started from the Studio: first in the session's list, and on the canvas. */
  setActive: (job: Job) => void;
  /** Puts one of the session's jobs on the canvas. */
  show: (jobId: string) => void;
  setLastSeed: (seed: number) => void;
}

export function randomSeed(random: () => number = Math.random): number {
  return Math.floor(random() * MAX_SEED);
}

/** Empty and −1 both ask the server for a random seed. */
export function isRandomSeed(seed: number | null): boolean {
  return seed === null || seed === -1;
}

/** The form as the API wants it: absent fields stay absent so the server resolves them,
 * and what the model cannot take (a negative prompt without CFG, guidance on Flux schnell)
 * is left out rather than refused. */
export function toRequest(form: StudioForm, capabilities?: Capabilities | null): JobSubmission {
  const request: JobSubmission = {
    prompt: form.prompt.trim(),
    steps: form.steps,
    sampler: form.sampler,
    batch_size: form.batch_size,
    loras: form.loras.map(({ name, weight }) => ({ name, weight })),
    priority: form.priority,
    speed: form.speed,
  };
  if (!capabilities || capabilities.negative_prompt) request.negative_prompt = form.negative_prompt.trim();
  if (!capabilities || capabilities.guidance !== "none") request.guidance_scale = form.guidance_scale;
  if (form.model) request.model = form.model;
  if (form.width && form.height) {
    request.width = form.width;
    request.height = form.height;
  }
  if (!isRandomSeed(form.seed)) request.seed = form.seed;
  const takesImages = capabilities?.image_inputs !== false;
  if (form.init_image && takesImages) {
    request.init_image = form.init_image.id;
    request.strength = form.strength;
    if (form.mask) request.mask = form.mask.id;
  }
  if (form.tiling && capabilities?.tiling !== false) request.tiling = true;
  if (form.hires && takesImages) {
    request.hires = { scale: form.hires_scale, strength: form.hires_strength, steps: null, width: null, height: null, upscaler: capabilities?.latent_upscale === false ? "lanczos" : form.hires_upscaler };
  }
  // a unit with no picture of its own follows the start picture (the server refuses one
  // with neither, and says so)
  if (form.controlnet.length && capabilities?.controlnet !== false) {
    request.controlnet = form.controlnet.map(({ image, preprocessor, ...unit }) => ({
      ...unit,
      image: image?.id ?? null,
      // its options take the server's defaults (the generated type counts them as sent)
      preprocessor: { name: preprocessor } as GenerationRequest["controlnet"][number]["preprocessor"],
    }));
  }
  return request;
}

/** The settings a model's family starts from, for a form switching to that model. */
export function familyDefaults(capabilities: Capabilities): Pick<StudioForm, "sampler" | "steps" | "guidance_scale"> {
  return { sampler: capabilities.default_sampler, steps: capabilities.default_steps, guidance_scale: capabilities.default_guidance };
}

export const useStudio = create<StudioState>()(
  persist(
    (set) => ({
      form: DEFAULT_FORM,
      activeJobId: null,
      sessionJobIds: [],
      lastSeed: null,
      update: (patch) => set((s) => ({ form: { ...s.form, ...patch } })),
      setLora: (name, weight) =>
        set((s) => {
          const exists = s.form.loras.some((l) => l.name === name);
          const loras = exists
            ? s.form.loras.map((l) => (l.name === name ? { name, weight } : l))
            : [...s.form.loras, { name, weight }];
          return { form: { ...s.form, loras } };
        }),
      removeLora: (name) =>
        set((s) => ({ form: { ...s.form, loras: s.form.loras.filter((l) => l.name !== name) } })),
      insertInPrompt: (text) =>
        set((s) => {
          const prompt = s.form.prompt.trim();
          if (prompt.split(/,\s*/).includes(text)) return s;
          return { form: { ...s.form, prompt: prompt ? `${prompt}, ${text}` : text } };
        }),
      loadRequest: (request, keepSeed) =>
        set((s) => ({
          form: {
            ...s.form,
            prompt: request.prompt,
            negative_prompt: request.negative_prompt,
            model: request.model,
            sampler: request.sampler,
            steps: request.steps,
            guidance_scale: request.guidance_scale,
            width: request.width,
            height: request.height,
            seed: keepSeed ? request.seed : s.form.seed,
            batch_size: request.batch_size,
            priority: request.priority,
            loras: request.loras,
            speed: request.speed,
            init_image: request.init_image ? inputImage(request.init_image, request.width ?? 0, request.height ?? 0) : null,
            strength: request.strength,
            mask: request.mask && request.init_image ? inputImage(request.mask, request.width ?? 0, request.height ?? 0) : null,
            tiling: request.tiling,
            hires: request.hires !== null,
            hires_scale: request.hires?.scale ?? s.form.hires_scale,
            hires_strength: request.hires?.strength ?? s.form.hires_strength,
            hires_upscaler: request.hires?.upscaler ?? s.form.hires_upscaler,
            controlnet: request.controlnet.map(({ image, preprocessor, ...unit }) => ({
              ...unit,
              image: image ? inputImage(image) : null,
              preprocessor: preprocessor.name,
            })),
          },
        })),
      setActive: (job) =>
        set((s) => ({ activeJobId: job.id, sessionJobIds: [job.id, ...s.sessionJobIds.filter((id) => id !== job.id)] })),
      show: (jobId) => set({ activeJobId: jobId }),
      setLastSeed: (seed) => set({ lastSeed: seed }),
    }),
    {
      name: "novagenia.studio",
      version: 1,
      partialize: (s) => ({ form: s.form, activeJobId: s.activeJobId, lastSeed: s.lastSeed }),
      merge: (persisted, current) => {
        const p = (persisted ?? {}) as Partial<StudioState>;
        const form = { ...DEFAULT_FORM, ...(p.form ?? {}) };
        // JSON keeps a field left without a number (NaN) as null: it is still no number
        for (const key of ["steps", "guidance_scale", "batch_size", "priority", "strength", "hires_scale", "hires_strength"] as const) {
          if (typeof form[key] !== "number") form[key] = Number.NaN;
        }
        return { ...current, ...p, form };
      },
    },
  ),
);
