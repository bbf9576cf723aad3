import { expect, test } from "@playwright/test";

import { drainQueue, getJob, submitJob, waitLive } from "./helpers";

test("offline: one banner, the last data stays, server actions wait; back online, the lists reload", async ({ page, context, request }) => {
  await drainQueue(request);
  const tag = Date.now().toString(36);
  const job = await submitJob(request, { prompt: `kept on screen ${tag}`, steps: 2 });
  await expect.poll(async () => (await getJob(request, job.id)).status, { timeout: 60_000 }).toBe("succeeded");

  await page.goto("/queue");
  await waitLive(page);
  const tile = page.getByRole("button", { name: new RegExp(`^Open "kept on screen ${tag}`) });
  await expect(tile).toBeVisible();

  await context.setOffline(true);
  const banner = page.getByTestId("offline-banner");
  await expect(banner).toBeVisible();
  await expect(tile).toBeVisible();

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Studio" }).click();
  await expect(page.getByRole("button", { name: /Generate/ })).toBeDisabled();
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "LoRAs" }).click();
  await expect(page.getByLabel("Upload a LoRA file")).toBeDisabled();
  // the polls keep failing meanwhile: still the one banner, no toasts
  await page.waitForTimeout(6_000);
  await expect(page.getByRole("alert")).toHaveCount(1);
  await expect(page.locator(".toast")).toHaveCount(0);

  const reloaded = ["/api/v1/config", "/api/v1/models", "/api/v1/samplers", "/api/v1/loras"].map((path) =>
    page.waitForResponse((r) => new URL(r.url()).pathname === path && r.ok()),
  );
  await context.setOffline(false);
  await Promise.all(reloaded);
  await expect(banner).toHaveCount(0);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Studio" }).click();
  await expect(page.getByRole("button", { name: /Generate/ })).toBeEnabled();
});
