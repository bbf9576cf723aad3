// The Studio form's rules, the server's limits included, so a value out of range is an
// error beside its field (never a silent clamp) and Generate refuses to send it.

import type { AppConfig } from "../api/types";
import { MAX_SEED, type StudioForm } from "../stores/studio";

export interface FormLimits {
  minSize: number;
  maxSize: number;
  maxSteps: number;
  maxBatch: number;
}

/** The limits of `GET /config`, with the API's own bounds while it has not answered. */
export function formLimits(config: AppConfig | null): FormLimits {
  return {
    minSize: config?.limits.min_size ?? 64,
    maxSize: config?.limits.max_size ?? 2048,
    maxSteps: config?.limits.max_steps ?? 150,
    maxBatch: config?.limits.max_batch_size ?? 8,
  };
}

interface NumberRule {
  min: number;
  max: number;
  integer?: boolean;
  multipleOf?: number;
}

const number = (n: number) => (n < 0 ? `−${-n}` : String(n));

/** Why `value` breaks `rule`, in words; null when it is fine. NaN stands for "not a number". */
export function checkNumber(value: number | null | undefined, rule: NumberRule): string | null {
  if (typeof value !== "number" || !Number.isFinite(value)) return "Enter a number.";
  if (rule.integer && !Number.isInteger(value)) return "Enter a whole number.";
  if (value < rule.min || value > rule.max) return `Must be from ${number(rule.min)} to ${number(rule.max)}.`;
  if (rule.multipleOf && value % rule.multipleOf !== 0) return `Must be a multiple of ${rule.multipleOf}.`;
  return null;
}

export const LORA_WEIGHT = { min: -2, max: 2 } as const;

export type FormField = "steps" | "guidance_scale" | "batch_size" | "priority" | "seed" | "width" | "height" | `lora:${string}`;
export type FieldErrors = Partial<Record<FormField, string>>;

const LABELS: Record<string, string> = {
  steps: "Steps",
  guidance_scale: "CFG scale",
  batch_size: "Batch size",
  priority: "Priority",
  seed: "Seed",
  width: "Width",
  height: "Height",
};

export function fieldLabel(field: FormField): string {
  return field.startsWith("lora:") ? `${field.slice(5)} weight` : LABELS[field];
}

/** Every invalid field of the form and why; an empty object when it can be sent. */
export function validateForm(form: StudioForm, limits: FormLimits): FieldErrors {
  const errors: FieldErrors = {};
  const put = (field: FormField, error: string | null) => {
    if (error) errors[field] = error;
  };
  put("steps", checkNumber(form.steps, { min: 1, max: limits.maxSteps, integer: true }));
  put("guidance_scale", checkNumber(form.guidance_scale, { min: 0, max: 30 }));
  put("batch_size", checkNumber(form.batch_size, { min: 1, max: limits.maxBatch, integer: true }));
  put("priority", checkNumber(form.priority, { min: -1000, max: 1000, integer: true }));
  if (form.seed !== null && form.seed !== -1) {
    const error = checkNumber(form.seed, { min: 0, max: MAX_SEED, integer: true });
    if (error) put("seed", error === "Enter a number." ? error : `Must be −1 (random) or from 0 to ${MAX_SEED}.`);
  }
  if (form.width !== null || form.height !== null) {
    const size = { min: limits.minSize, max: limits.maxSize, integer: true, multipleOf: 8 };
    put("width", form.width === null ? "Enter a width too, or pick Native." : checkNumber(form.width, size));
    put("height", form.height === null ? "Enter a height too, or pick Native." : checkNumber(form.height, size));
  }
  for (const lora of form.loras) put(`lora:${lora.name}`, checkNumber(lora.weight, LORA_WEIGHT));
  return errors;
}
