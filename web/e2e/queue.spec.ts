import { expect, test } from "@playwright/test";

import { drainQueue, getJob, submitJob, waitLive } from "./helpers";

test("the queue shows run order, moves a job to the front, cancels queued and running jobs", async ({ page, request }) => {
  await drainQueue(request);
  const tag = Date.now().toString(36);
  // a slow job holds the only worker, so the next ones stay queued
  const blocker = await submitJob(request, { prompt: "slow blocker", steps: 150, width: 256, height: 256 });
  const first = await submitJob(request, { prompt: `queued first ${tag}`, steps: 4 });
  const second = await submitJob(request, { prompt: `queued second ${tag}`, steps: 4 });

  await page.goto("/queue");
  await waitLive(page);
  const queued = page.getByTestId("queued-job");
  await expect(queued).toHaveCount(2);
  await expect(queued.nth(0)).toHaveAttribute("data-job-id", first.id);
  await expect(queued.nth(1)).toHaveAttribute("data-job-id", second.id);

  await queued.nth(1).getByRole("button", { name: /to the front/ }).click();
  await expect(queued.nth(0)).toHaveAttribute("data-job-id", second.id);

  const running = page.locator(`[data-testid="running-job"][data-job-id="${blocker.id}"]`);
  await expect(running).toBeVisible();
  await expect(running.getByRole("progressbar")).toHaveAttribute("aria-valuetext", /step \d+ \/ 150/);

  const row = page.locator(`[data-testid="queued-job"][data-job-id="${first.id}"]`);
  await row.getByRole("button", { name: /^Cancel/ }).click();
  await expect(row).toHaveCount(0);
  await expect.poll(async () => (await getJob(request, first.id)).status).toBe("cancelled");

  await running.getByRole("button", { name: /^Cancel/ }).click();
  await expect.poll(async () => (await getJob(request, blocker.id)).status, { timeout: 60_000 }).toBe("cancelled");
  await expect(running).toHaveCount(0);

  // the cancelled jobs land in the history
  await page.getByRole("radio", { name: "cancelled" }).click();
  await expect(page.getByRole("button", { name: `Open cancelled job "queued first ${tag}"` })).toBeVisible();
  await drainQueue(request);
});
