import { describe, expect, it } from "vitest";

import { makeJob, SAMPLERS } from "../test/fixtures";
import { parametersText } from "./params";

describe("parametersText", () => {
  it("writes AUTOMATIC1111's text, with the sampler's label and the LoRAs as tags", () => {
    const job = makeJob({
      status: "succeeded",
      request: { ...makeJob().request, prompt: "a red circle", negative_prompt: "blur", loras: [{ name: "pixel_art", weight: 0.8 }] },
      images: [{ index: 0, url: "/x.png", seed: 7, width: 128, height: 96 }],
    });
    expect(parametersText(job, 0, SAMPLERS)).toBe(
      "a red circle <lora:pixel_art:0.8>\nNegative prompt: blur\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 7, Size: 128x96, Model: novagenia/tiny-random",
    );
  });

  it("falls back to the sampler's name when its label is not known", () => {
    expect(parametersText(makeJob(), 0, [])).toContain("Sampler: euler_a,");
  });
});
