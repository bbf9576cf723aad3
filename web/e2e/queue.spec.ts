import { expect, test } from "@playwright/test";

import { drainQueue, getJob, submitJob, waitLive } from "./helpers";

test("the queue shows run order, moves a job to the front, cancels queued and running jobs", async ({ page, request }) => {
  await drainQueue(request);
  const tag = Date.now().toString(36);
  // a slow job holds the only worker, so the next ones stay queued
  const blocker = await submitJob(request, { prompt: "slow blocker", steps: 150, width: 256, height: 256 });
  const first = await submitJob(request, { prompt: `queued first ${tag}`, steps: 4 });
  // a lower priority than the one before it: moving it to the front must not change either
  const second = await submitJob(request, { prompt: `queued second ${tag}`, steps: 4, priority: -3 });

  await page.goto("/queue");
  await waitLive(page);
  const queued = page.getByTestId("queued-job");
  await expect(queued).toHaveCount(2);
  await expect(queued.nth(0)).toHaveAttribute("data-job-id", first.id);
  await expect(queued.nth(1)).toHaveAttribute("data-job-id", second.id);

  // with the keyboard: focus must stay in the list, not fall to the page body
  await queued.nth(1).getByRole("button", { name: /to the front/ }).focus();
  await page.keyboard.press("Enter");
  await expect(queued.nth(0)).toHaveAttribute("data-job-id", second.id);
  await expect(page.getByTestId("queue-announcement")).toHaveText("Moved to the front.");
  await expect(queued.nth(0).getByRole("button", { name: /down$/ })).toBeFocused();
  expect((await getJob(request, second.id)).priority, "to the front is not a priority change").toBe(-3);
  expect((await getJob(request, first.id)).priority).toBe(0);

  const running = page.locator(`[data-testid="running-job"][data-job-id="${blocker.id}"]`);
  await expect(running).toBeVisible();
  await expect(running.getByRole("progressbar")).toHaveAttribute("aria-valuetext", /step \d+ \/ 150/);

  const row = page.locator(`[data-testid="queued-job"][data-job-id="${first.id}"]`);
  await row.getByRole("button", { name: /^Cancel/ }).focus();
  await page.keyboard.press("Enter");
  await expect(row).toHaveCount(0);
  // the cancelled row was the last: focus goes to the row before it
  await expect(queued.nth(0).getByRole("button", { name: /^Cancel/ })).toBeFocused();
  await expect.poll(async () => (await getJob(request, first.id)).status).toBe("cancelled");

  await running.getByRole("button", { name: /^Cancel/ }).click();
  await expect.poll(async () => (await getJob(request, blocker.id)).status, { timeout: 60_000 }).toBe("cancelled");
  await expect(running).toHaveCount(0);

  // the cancelled jobs land in the history
  await page.getByRole("radio", { name: "cancelled" }).click();
  await expect(page.getByRole("button", { name: `Open cancelled job "queued first ${tag}"` })).toBeVisible();
  await drainQueue(request);
});

test("the Finished grid reads newest first, left to right and row by row", async ({ page, request }) => {
  await drainQueue(request);
  const tag = Date.now().toString(36);
  const made = [];
  // one after the other, so their finishing order is their making order
  for (let i = 0; i < 4; i++) {
    const job = await submitJob(request, { prompt: `grid ${i} ${tag}`, steps: 2, width: 64, height: 64 });
    await expect.poll(async () => (await getJob(request, job.id)).status, { timeout: 60_000 }).toBe("succeeded");
    made.push(job);
  }

  await page.goto("/queue");
  const tiles = page.getByTestId("finished-tile");
  await expect(tiles.first()).toBeVisible();
  // the four just made lead the grid, the last one first
  const ids = await tiles.evaluateAll((els) => els.map((el) => el.getAttribute("data-job-id")));
  expect(ids.slice(0, 4)).toEqual(made.map((j) => j.id).reverse());

  const boxes = await tiles.evaluateAll((els) =>
    els.slice(0, 4).map((el) => {
      const r = el.getBoundingClientRect();
      return { x: Math.round(r.left), y: Math.round(r.top) };
    }),
  );
  // at 1280 px several tiles share the first row: the second newest sits right of the newest
  expect(boxes[1].y).toBe(boxes[0].y);
  expect(boxes[1].x).toBeGreaterThan(boxes[0].x);
  // and every next tile is further right on the same row, or on a lower row
  for (let i = 1; i < boxes.length; i++) {
    const sameRow = boxes[i].y === boxes[i - 1].y;
    expect(sameRow ? boxes[i].x > boxes[i - 1].x : boxes[i].y > boxes[i - 1].y, `tile ${i} after tile ${i - 1}`).toBe(true);
  }
});
