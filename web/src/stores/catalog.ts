// What the server offers: its config, installed models and ControlNets, samplers and the
// LoRA library.

import { create } from "zustand";

import { api, isNotAvailable } from "../api/client";
import type { AppConfig, ControlNetInfo, ControlNetList, Lora, LoraList, LoraUpdate, ModelInfo, ModelList, Sampler, SamplerList } from "../api/types";

export type Availability = "loading" | "ready" | "unavailable" | "error";

interface CatalogState {
  config: AppConfig | null;
  models: ModelInfo[];
  modelsState: Availability;
  controlnets: ControlNetInfo[];
  samplers: Sampler[];
  loras: Lora[];
  lorasState: Availability;

  loadConfig: () => Promise<AppConfig>;
  loadModels: () => Promise<void>;
  loadControlNets: () => Promise<void>;
  loadSamplers: () => Promise<void>;
  loadLoras: () => Promise<void>;
  deleteModel: (id: string) => Promise<void>;
  uploadLora: (file: File, overwrite?: boolean) => Promise<Lora>;
  updateLora: (name: string, update: LoraUpdate) => Promise<Lora>;
  deleteLora: (name: string) => Promise<void>;
  rescanLoras: () => Promise<void>;
}

/** The sampler's label ("Euler a"), as people and A1111 tools know it; its name when unknown. */
export function samplerLabel(name: string, samplers: Sampler[]): string {
  return samplers.find((s) => s.name === name)?.label ?? name;
}

/** The samplers that apply to a model, in its order; all of them when it does not say. */
export function samplersFor(model: ModelInfo | undefined, samplers: Sampler[]): Sampler[] {
  if (!model || !Array.isArray(model.samplers) || model.samplers.length === 0) return samplers;
  return model.samplers.map((name) => ({ name, label: samplerLabel(name, samplers) }));
}

/**
 * Whether the server would delete the model: its `deletable`, or, from a server that does
 * not say, what it refuses (embedded models and the default one).
 */
export function isDeletable(model: ModelInfo): boolean {
  return typeof model.deletable === "boolean" ? model.deletable : model.source === "local" && !model.default;
}

/** Model ids may hold one "/": keep it a path separator the router understands. */
export const modelPath = (id: string) => id.split("/").map(encodeURIComponent).join("/");

async function guarded<T>(load: () => Promise<T>): Promise<{ value?: T; state: Availability; error?: unknown }> {
  try {
    return { value: await load(), state: "ready" };
  } catch (error) {
    return { state: isNotAvailable(error) ? "unavailable" : "error", error };
  }
}

export const useCatalog = create<CatalogState>((set, get) => ({
  config: null,
  models: [],
  modelsState: "loading",
  controlnets: [],
  samplers: [],
  loras: [],
  lorasState: "loading",

  loadConfig: async () => {
    const config = await api<AppConfig>("/config");
    set({ config });
    return config;
  },
  loadModels: async () => {
    const result = await guarded(() => api<ModelList>("/models"));
    set({ modelsState: result.state, models: result.value?.models ?? get().models });
    if (result.state === "error") throw result.error;
  },
  loadControlNets: async () => {
    const { controlnets } = await api<ControlNetList>("/controlnet/models");
    set({ controlnets });
  },
  loadSamplers: async () => {
    const { samplers } = await api<SamplerList>("/samplers");
    set({ samplers });
  },
  loadLoras: async () => {
    const result = await guarded(() => api<LoraList>("/loras"));
    set({ lorasState: result.state, loras: result.value?.loras ?? get().loras });
    if (result.state === "error") throw result.error;
  },
  deleteModel: async (id) => {
    await api(`/models/${modelPath(id)}`, { method: "DELETE" });
    set((s) => ({ models: s.models.filter((m) => m.id !== id) }));
  },
  uploadLora: async (file, overwrite = false) => {
    const form = new FormData();
    form.append("file", file, file.name);
    const lora = await api<Lora>("/loras", {
      method: "POST",
      body: form,
      query: overwrite ? { overwrite: true } : undefined,
    });
    set((s) => ({
      lorasState: "ready",
      loras: [...s.loras.filter((l) => l.name !== lora.name), lora].sort((a, b) => a.name.localeCompare(b.name)),
    }));
    return lora;
  },
  updateLora: async (name, update) => {
    const lora = await api<Lora>(`/loras/${encodeURIComponent(name)}`, { method: "PUT", body: update });
    set((s) => ({ loras: s.loras.map((l) => (l.name === name ? lora : l)) }));
    return lora;
  },
  deleteLora: async (name) => {
    await api(`/loras/${encodeURIComponent(name)}`, { method: "DELETE" });
    set((s) => ({ loras: s.loras.filter((l) => l.name !== name) }));
  },
  rescanLoras: async () => {
    await api("/loras/rescan", { method: "POST" });
    await get().loadLoras();
  },
}));
