import { expect, test, type Page } from "@playwright/test";

import { drainQueue, SHOTS, submitJob, waitLive } from "./helpers";

const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 360, height: 780 },
} as const;

const VIEWS = [
  { path: "/", name: "studio", ready: (p: Page) => p.getByTestId("result-image").first() },
  { path: "/queue", name: "queue", ready: (p: Page) => p.getByRole("heading", { name: "Finished" }) },
  { path: "/loras", name: "loras", ready: (p: Page) => p.getByRole("heading", { name: "LoRAs" }) },
  { path: "/models", name: "models", ready: (p: Page) => p.getByTestId("model-card").first() },
  { path: "/cluster", name: "cluster", ready: (p: Page) => p.getByRole("heading", { name: "Cluster" }) },
];

/** Nothing on the page is wider than the screen (no sideways scrolling). */
async function overflow(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const wide: string[] = [];
    if (document.documentElement.scrollWidth > width) wide.push(`document ${document.documentElement.scrollWidth}px`);
    const main = document.querySelector("main");
    if (main && main.scrollWidth > main.clientWidth + 1) wide.push(`main ${main.scrollWidth}px`);
    for (const el of Array.from(document.querySelectorAll("main *"))) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > width + 1) wide.push(`${el.tagName.toLowerCase()}.${el.className} right=${Math.round(r.right)}`);
    }
    return wide.slice(0, 5);
  });
}

test.use({ colorScheme: "dark" });

test("every view at desktop and phone width, with no sideways scrolling", async ({ page, request }) => {
  await drainQueue(request);
  // some history to show
  await submitJob(request, { prompt: "a green triangle", steps: 6, batch_size: 2 });
  await submitJob(request, { prompt: "a yellow star", steps: 6, width: 192, height: 128 });

  await page.goto("/");
  await waitLive(page);
  await page.getByLabel("Prompt", { exact: true }).fill("a red circle on a blue background");
  await page.getByRole("button", { name: /Generate/ }).click();
  await expect(page.getByTestId("result-image").first()).toBeVisible({ timeout: 90_000 });

  for (const [size, viewport] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(viewport);
    for (const view of VIEWS) {
      await page.goto(view.path);
      await expect(view.ready(page)).toBeVisible();
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${SHOTS}/${view.name}-${size}.png` });
      if (size === "phone") expect(await overflow(page), `${view.name} at 360 px`).toEqual([]);
    }
  }
  // a job running: live preview and progress on the canvas, the queue with running and queued rows
  const blocker = await submitJob(request, { prompt: "a slow blue square", steps: 150, width: 256, height: 256 });
  await submitJob(request, { prompt: "waiting its turn", steps: 4 });
  await submitJob(request, { prompt: "waiting too, at a higher priority", steps: 4, priority: 5 });
  await page.evaluate((id) => {
    const saved = JSON.parse(localStorage.getItem("novagenia.studio") ?? '{"state":{}}');
    saved.state.activeJobId = id;
    localStorage.setItem("novagenia.studio", JSON.stringify(saved));
  }, blocker.id);
  for (const [size, viewport] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(viewport);
    await page.goto("/");
    await expect(page.getByTestId("preview-image")).toBeVisible();
    await page.screenshot({ path: `${SHOTS}/studio-running-${size}.png` });
    await page.goto("/queue");
    await expect(page.getByTestId("running-job")).toBeVisible();
    await page.screenshot({ path: `${SHOTS}/queue-running-${size}.png` });
    if (size === "phone") expect(await overflow(page), "queue with jobs at 360 px").toEqual([]);
  }
  await drainQueue(request);

  // the viewer, and what keyboard focus looks like
  for (const [size, viewport] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(viewport);
    await page.goto("/queue");
    await page.getByRole("button", { name: /^Open "a red circle/ }).first().click();
    await expect(page.getByRole("dialog")).toBeVisible();
    await page.screenshot({ path: `${SHOTS}/viewer-${size}.png` });
    await page.keyboard.press("Escape");
  }
  await page.setViewportSize(VIEWPORTS.desktop);
  await page.goto("/");
  await page.getByLabel("Prompt", { exact: true }).focus();
  for (let i = 0; i < 6; i++) await page.keyboard.press("Tab");
  await page.screenshot({ path: `${SHOTS}/focus-desktop.png` });

  // the phone Studio below the fold: the settings panel
  await page.setViewportSize(VIEWPORTS.phone);
  await page.goto("/");
  await page.evaluate(() => window.scrollTo(0, 420));
  await page.screenshot({ path: `${SHOTS}/studio-phone-panel.png` });

  // the light theme follows the system setting
  await page.emulateMedia({ colorScheme: "light" });
  await page.setViewportSize(VIEWPORTS.desktop);
  await page.goto("/queue");
  await expect(page.getByRole("heading", { name: "Finished" })).toBeVisible();
  await page.screenshot({ path: `${SHOTS}/queue-desktop-light.png` });
  await page.goto("/");
  await page.getByRole("button", { name: /Generate/ }).click();
  await expect(page.getByTestId("result-image").first()).toBeVisible({ timeout: 90_000 });
  await page.screenshot({ path: `${SHOTS}/studio-desktop-light.png` });
});
