import type { APIRequestContext, Page } from "@playwright/test";

import type { Job, JobSubmission, QueueState } from "../src/api/types";

/** Where serve_e2e.yaml listens. */
export const BASE_URL = "http://127.0.0.1:7870";

/** The embedded trained model (the default): its pictures show what was asked. */
export const TINY = "novagenia/tiny-shapes";

/** Submits a job straight to the API (setup for tests that are not about the Studio). */
export async function submitJob(request: APIRequestContext, body: JobSubmission): Promise<Job> {
  const response = await request.post("/api/v1/jobs", { data: { model: TINY, ...body } });
  if (response.status() !== 202) throw new Error(`submit failed: ${response.status()} ${await response.text()}`);
  return (await response.json()) as Job;
}

export async function getJob(request: APIRequestContext, id: string): Promise<Job> {
  return (await (await request.get(`/api/v1/jobs/${id}`)).json()) as Job;
}

/** Cancels every queued or running job, so each test starts with an idle worker. */
export async function drainQueue(request: APIRequestContext): Promise<void> {
  const queue = (await (await request.get("/api/v1/queue")).json()) as QueueState;
  for (const job of [...queue.queued, ...queue.running]) await request.delete(`/api/v1/jobs/${job.id}`);
  for (let i = 0; i < 200; i++) {
    const q = (await (await request.get("/api/v1/queue")).json()) as QueueState;
    if (q.queued.length === 0 && q.running.length === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the app's WebSocket is live (the top bar's dot). */
export async function waitLive(page: Page): Promise<void> {
  await page.getByTestId("socket-state").and(page.locator('[data-state="live"]')).waitFor({ timeout: 30_000 });
}

export const SHOTS = "test-results/screenshots";
