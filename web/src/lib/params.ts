import type { Job } from "../api/types";

/** The job's parameters in the AUTOMATIC1111 text form people paste between tools. */
export function parametersText(job: Job, imageIndex = 0): string {
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
    `Sampler: ${r.sampler}`,
    `CFG scale: ${r.guidance_scale}`,
    `Seed: ${seed ?? "random"}`,
    width && height ? `Size: ${width}x${height}` : null,
    `Model: ${job.model}`,
  ].filter(Boolean);
  lines.push(fields.join(", "));
  return lines.join("\n");
}
