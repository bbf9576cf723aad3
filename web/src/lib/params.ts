import type { Job, LoraRef, Sampler } from "../api/types";
import { samplerLabel } from "../stores/catalog";

/** "pixel_art 0.8, ink_wash −0.5" */
export function lorasText(loras: LoraRef[]): string {
  return loras.map((l) => `${l.name} ${l.weight < 0 ? `−${-l.weight}` : l.weight}`).join(", ");
}

/**
 * The job's parameters in the AUTOMATIC1111 text form people paste between tools; the
 * sampler by its label ("Euler a"), which is what those tools read.
 */
export function parametersText(job: Job, imageIndex = 0, samplers: Sampler[] = []): string {
  const r = job.request;
  const image = job.images.find((i) => i.index === imageIndex) ?? job.images[0];
  const seed = image?.seed ?? r.seed;
  const width = image?.width ?? r.width;
  const height = image?.height ?? r.height;
  const loras = r.loras.map((l) => `<lora:${l.name}:${l.weight}>`).join(" ");
  const lines = [loras ? `${r.prompt} ${loras}` : r.prompt];
  if (r.negative_prompt) lines.push(`Negative prompt: ${r.negative_prompt}`);
  const fields = [
    `Steps: ${r.steps}`,
    `Sampler: ${samplerLabel(r.sampler, samplers)}`,
    `CFG scale: ${r.guidance_scale}`,
    `Seed: ${seed ?? "random"}`,
    width && height ? `Size: ${width}x${height}` : null,
    `Model: ${job.model}`,
  ].filter(Boolean);
  lines.push(fields.join(", "));
  return lines.join("\n");
}
