import { type APIRequestContext, expect, test } from "@playwright/test";

import type { AppConfig, ModelList, SamplerList } from "../src/api/types";
import { drainQueue, TINY, waitLive } from "./helpers";

declare global {
  interface Window {
    __seen: { steps: number[]; texts: string[]; preview: boolean };
  }
}

test("generate from the Studio: the progress bar advances, a preview then the image appear", async ({ page, request }) => {
  await drainQueue(request);
  await page.goto("/");
  await waitLive(page);

  await page.getByLabel("Prompt", { exact: true }).fill("a red circle on a blue background");
  const steps = page.getByRole("spinbutton", { name: "Steps value" });
  await steps.fill("150");
  await steps.press("Enter");
  await expect(page.getByRole("slider", { name: "Steps" })).toHaveValue("150");

  // record what a person would have seen while it ran
  await page.evaluate(() => {
    window.__seen = { steps: [], texts: [], preview: false };
    new MutationObserver(() => {
      const bar = document.querySelector('[role="progressbar"][aria-label="Generation progress"]');
      if (bar) {
        window.__seen.steps.push(Number(bar.getAttribute("aria-valuenow")));
        window.__seen.texts.push(bar.getAttribute("aria-valuetext") ?? "");
      }
      if (document.querySelector('[data-testid="preview-image"]')) window.__seen.preview = true;
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });

  const samplerName = await page.getByLabel("Sampler").inputValue();
  const { samplers } = (await (await request.get("/api/v1/samplers")).json()) as SamplerList;
  const samplerLabel = samplers.find((x) => x.name === samplerName)!.label;

  // the keyboard shortcut is the Generate button
  await page.getByLabel("Prompt", { exact: true }).press("Control+Enter");

  const result = page.getByTestId("result-image");
  await expect(result).toBeVisible({ timeout: 90_000 });
  await expect.poll(() => result.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(0);

  const seen = await page.evaluate(() => window.__seen);
  const midway = new Set(seen.steps.filter((s) => s > 0 && s < 150));
  expect(midway.size, `progress values seen: ${[...new Set(seen.steps)].join(", ")}`).toBeGreaterThanOrEqual(2);
  expect(seen.texts.some((t) => /^step \d+ \/ 150 · [\d.]+ s left$/.test(t)), seen.texts.slice(0, 5).join(" | ")).toBe(true);
  expect(seen.preview, "a live preview was shown").toBe(true);

  // the parameters come with the result, and the viewer opens on it
  await expect(page.getByTestId("result-meta")).toContainText("150 steps");
  await expect(page.getByTestId("result-meta")).toContainText("seed");
  // the sampler as people (and A1111 tools) know it, not its id
  await expect(page.getByTestId("result-meta")).toContainText(` · ${samplerLabel} · `);
  await result.click();
  const viewer = page.getByRole("dialog");
  await expect(viewer).toBeVisible();
  await expect(viewer.getByText("a red circle on a blue background").first()).toBeVisible();
  await expect(viewer.getByRole("button", { name: "Use seed" })).toBeEnabled();
  await page.keyboard.press("Escape");
  await expect(viewer).toHaveCount(0);
});

test("a request the server refuses is explained in a toast with the server's words", async ({ page }) => {
  await page.goto("/");
  await waitLive(page);
  await page.getByLabel("Prompt", { exact: true }).fill("anything");
  await page.route("**/api/v1/jobs", (route) =>
    route.request().method() === "POST"
      ? route.fulfill({ status: 503, contentType: "application/json", body: JSON.stringify({ detail: "queue is full (1000 jobs)" }) })
      : route.continue(),
  );
  await page.getByRole("button", { name: /Generate/ }).click();
  const toast = page.getByRole("alert");
  await expect(toast).toContainText("Could not start the generation");
  await expect(toast).toContainText("queue is full (1000 jobs)");
});

test("the sampler list holds the samplers of the chosen model (GET /models' samplers), by label", async ({ page, request }) => {
  const { models } = (await (await request.get("/api/v1/models")).json()) as ModelList;
  const { samplers } = (await (await request.get("/api/v1/samplers")).json()) as SamplerList;
  const { default_model } = (await (await request.get("/api/v1/config")).json()) as AppConfig;
  expect(default_model).toBe(TINY);
  const tiny = models.find((m) => m.id === TINY)!;
  expect(Array.isArray(tiny.samplers), "GET /models gives each model's samplers").toBe(true);
  expect(tiny.samplers.length).toBeGreaterThan(0);
  const labels = tiny.samplers.map((name) => samplers.find((x) => x.name === name)?.label ?? name);

  await page.goto("/");
  await waitLive(page);
  await expect(page.getByLabel("Model", { exact: true })).toHaveValue(""); // the default model
  await expect(page.getByLabel("Sampler").locator("option")).toHaveText(labels);
  expect(tiny.samplers).toContain(await page.getByLabel("Sampler").inputValue());
});

test("on a phone with a result shown, the settings use the page's scroll, not a small inner scroller", async ({ page, request }) => {
  await drainQueue(request);
  await page.setViewportSize({ width: 360, height: 780 });
  await page.goto("/");
  await waitLive(page);
  await page.getByLabel("Prompt", { exact: true }).fill("a blue square on a white background");
  await page.getByRole("button", { name: /Generate/ }).click();
  await expect(page.getByTestId("result-image").first()).toBeVisible({ timeout: 90_000 });

  // nothing scrolls by itself, not the settings and not the view around them: the page does
  const scrollers = await page.evaluate(() =>
    Array.from(document.querySelectorAll("body *"))
      .filter((el) => {
        const style = getComputedStyle(el);
        return /(auto|scroll)/.test(style.overflowY) && el.scrollHeight > el.clientHeight + 1 && el.tagName !== "TEXTAREA";
      })
      .map((el) => `${el.tagName.toLowerCase()}.${el.className}: ${el.clientHeight}px of ${el.scrollHeight}px`),
  );
  expect(scrollers).toEqual([]);
  const settings = page.getByRole("form", { name: "Generation settings" });
  expect(await page.evaluate(() => document.scrollingElement!.scrollHeight)).toBeGreaterThan(780);
  await page.evaluate(() => window.scrollTo(0, document.scrollingElement!.scrollHeight));
  await expect(page.getByLabel("LoRA to add")).toBeInViewport();
  await expect(page.getByRole("button", { name: /Generate/ })).toBeInViewport();
  // scrolled to the end, the settings fill the screen between the top bar and the Generate bar
  const box = (await settings.boundingBox())!;
  expect(box.y).toBeLessThanOrEqual(52);
});

/** A 64×64 picture the embedded model drew for `prompt` (seed 5), as PNG bytes. */
async function drawnPicture(request: APIRequestContext, prompt: string): Promise<Buffer> {
  const job = await (await request.post("/api/v1/jobs", { data: { model: TINY, prompt, seed: 5, steps: 20, width: 64, height: 64 } })).json();
  let done = job;
  for (let i = 0; i < 300 && done.status !== "succeeded"; i++) {
    await new Promise((r) => setTimeout(r, 200));
    done = await (await request.get(`/api/v1/jobs/${job.id}`)).json();
  }
  return (await request.get(done.images[0].url)).body();
}

test("start from a picture in the Studio: upload it, redraw it, and the job keeps it", async ({ page, request }) => {
  await drainQueue(request);
  // a picture the embedded model knows: one it drew (a yellow square on black)
  const picture = await drawnPicture(request, "a yellow square on a black background");

  await page.goto("/");
  await waitLive(page);
  await page.getByLabel("Prompt", { exact: true }).fill("a red circle on a blue background");
  await page.getByLabel("Start image").setInputFiles({ name: "square.png", mimeType: "image/png", buffer: picture });
  await expect(page.getByRole("img", { name: "Start image" })).toBeVisible();
  const strength = page.getByRole("spinbutton", { name: "Strength value" });
  await strength.fill("0.5");
  await strength.press("Enter");
  await page.screenshot({ path: "test-results/screenshots/studio-start-image-desktop.png" });
  await page.getByRole("button", { name: /Generate/ }).click();

  const result = page.getByTestId("result-image");
  await expect(result).toBeVisible({ timeout: 90_000 });
  const queue = await (await request.get("/api/v1/jobs?limit=1")).json();
  expect(queue.jobs[0].request).toMatchObject({ strength: 0.5, width: 64, height: 64 });
  expect(queue.jobs[0].request.init_image).toMatch(/^[0-9a-f]{32}$/);

  await page.setViewportSize({ width: 360, height: 780 });
  await page.screenshot({ path: "test-results/screenshots/studio-start-image-phone.png", fullPage: true });
});

test("paint an inpainting mask and guide by a ControlNet in the Studio, with mouse and finger", async ({ page, request }) => {
  await drainQueue(request);
  const picture = await drawnPicture(request, "a yellow square on a black background");

  await page.goto("/");
  await waitLive(page);
  await page.getByLabel("Prompt", { exact: true }).fill("a red circle on a black background");
  await page.getByLabel("Start image").setInputFiles({ name: "square.png", mimeType: "image/png", buffer: picture });
  const canvas = page.getByRole("img", { name: "Mask: paint what to redraw" });
  await expect(canvas).toBeVisible();
  // paint the left half with the mouse (the canvas in the middle of the settings' scroll,
  // clear of the Generate bar)
  await canvas.evaluate((el) => el.scrollIntoView({ block: "center" }));
  const box = (await canvas.boundingBox())!;
  const masked = page.waitForResponse((r) => r.url().endsWith("/api/v1/inputs") && r.status() === 201);
  await page.mouse.move(box.x + box.width * 0.1, box.y + box.height * 0.1);
  await page.mouse.down();
  for (const f of [0.3, 0.5, 0.7, 0.9]) await page.mouse.move(box.x + box.width * 0.25, box.y + box.height * f, { steps: 4 });
  await page.mouse.up();
  const mask = await (await masked).json();
  await expect(page.getByText("only the painted part is redrawn")).toBeVisible();

  // the stored mask is white where painted, black elsewhere
  const coverage = await page.evaluate(async (url) => {
    const img = new Image();
    img.src = url;
    await img.decode();
    const c = document.createElement("canvas");
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext("2d")!;
    ctx.drawImage(img, 0, 0);
    const white = (x0: number, x1: number) => {
      const d = ctx.getImageData(x0, 0, x1 - x0, img.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) n += d[i] > 127 ? 1 : 0;
      return n / (d.length / 4);
    };
    return { left: white(0, img.width / 2), right: white(img.width * 0.75, img.width) };
  }, mask.url);
  expect(coverage.left).toBeGreaterThan(0.1); // a brush 1/12 of the width wide
  expect(coverage.right).toBe(0);

  await page.getByRole("button", { name: "Add a ControlNet" }).click();
  const unit = page.getByRole("group", { name: "ControlNet 1" });
  const preview = unit.getByRole("img", { name: "ControlNet 1 control map" });
  await expect(preview).toBeVisible();
  expect(await preview.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(64);
  await page.screenshot({ path: "test-results/screenshots/studio-mask-controlnet-desktop.png", fullPage: true });
  await page.getByRole("button", { name: /Generate/ }).click();
  await expect(page.getByTestId("result-image")).toBeVisible({ timeout: 90_000 });
  const queue = await (await request.get("/api/v1/jobs?limit=1")).json();
  expect(queue.jobs[0].status).toBe("succeeded");
  expect(queue.jobs[0].request.mask).toBe(mask.id);
  expect(queue.jobs[0].request.controlnet).toMatchObject([{ model: "novagenia/tiny-shapes-canny", image: null, preprocessor: { name: "canny" } }]);

  // on a phone: a finger paints too (touch → pointer events)
  await page.setViewportSize({ width: 360, height: 780 });
  await page.getByRole("button", { name: "Clear mask" }).click();
  await expect(page.getByText("optional: paint the part to redraw")).toBeVisible();
  await canvas.evaluate((el) => el.scrollIntoView({ block: "center" }));
  const small = (await canvas.boundingBox())!;
  const touched = page.waitForResponse((r) => r.url().endsWith("/api/v1/inputs") && r.status() === 201);
  await canvas.dispatchEvent("pointerdown", { pointerId: 7, pointerType: "touch", clientX: small.x + 10, clientY: small.y + 10, isPrimary: true });
  await canvas.dispatchEvent("pointermove", { pointerId: 7, pointerType: "touch", clientX: small.x + small.width - 10, clientY: small.y + small.height - 10, isPrimary: true });
  await canvas.dispatchEvent("pointerup", { pointerId: 7, pointerType: "touch", isPrimary: true });
  await touched;
  await expect(page.getByText("only the painted part is redrawn")).toBeVisible();
  await page.screenshot({ path: "test-results/screenshots/studio-mask-controlnet-phone.png", fullPage: true });
});
