import { beforeEach, describe, expect, it, vi } from "vitest";

import { jobEvent, makeJob, mockApi, progressEvent, resetStores } from "../test/fixtures";
import { selectFinished, selectQueued, selectRunning, useJobs } from "./jobs";

const state = () => useJobs.getState();

beforeEach(() => {
  resetStores();
  vi.unstubAllGlobals();
});

describe("applying WebSocket events", () => {
  it("follows a job from queued to succeeded, with progress and previews", () => {
    const job = makeJob({ id: "a" });
    state().applyEvent(jobEvent("queued", job, 1));
    expect(selectQueued(state()).map((j) => j.id)).toEqual(["a"]);

    state().applyEvent(jobEvent("started", { ...job, status: "running", started_at: 2000 }, 2));
    state().applyEvent(progressEvent("a", 5, 3));
    expect(state().jobs.a.status).toBe("running");
    expect(state().jobs.a.progress).toEqual({ step: 5, total_steps: 20, elapsed_s: 0.5, eta_s: 1.5 });
    expect(selectRunning(state()).map((j) => j.id)).toEqual(["a"]);

    state().applyEvent({ type: "preview", job_id: "a", cursor: 4, ts: 4, step: 5, image: "data:image/png;base64,AAAA" });
    expect(state().previews.a).toEqual({ image: "data:image/png;base64,AAAA", step: 5 });

    const done = { ...job, status: "succeeded" as const, finished_at: 2001, images: [{ index: 0, url: "/api/v1/images/a/0.png", seed: 42, width: 128, height: 128 }] };
    state().applyEvent(jobEvent("succeeded", done, 5));
    expect(state().jobs.a.images).toHaveLength(1);
    expect(state().previews.a).toBeUndefined();
    expect(selectRunning(state())).toEqual([]);
    expect(selectFinished(state()).map((j) => j.id)).toEqual(["a"]);
    expect(state().cursor).toBe(5);
  });

  it("ignores events at or below the last cursor (a resumed socket replays nothing twice)", () => {
    const job = makeJob({ id: "a", status: "running" });
    state().applyEvent(jobEvent("started", job, 10));
    expect(state().applyEvent(progressEvent("a", 7, 12))).toBe(true);
    expect(state().applyEvent(progressEvent("a", 3, 11))).toBe(false);
    expect(state().applyEvent(progressEvent("a", 7, 12))).toBe(false);
    expect(state().jobs.a.progress?.step).toBe(7);
    expect(state().cursor).toBe(12);
  });

  it("always takes snapshots as the truth, even below the cursor", () => {
    state().applyEvent(jobEvent("queued", makeJob({ id: "a" }), 50));
    const snapshot = makeJob({ id: "a", status: "running", progress: { step: 3, total_steps: 20, elapsed_s: 1, eta_s: 5 } });
    expect(state().applyEvent(jobEvent("started", snapshot, 40, true))).toBe(true);
    expect(state().jobs.a.status).toBe("running");
    expect(state().cursor).toBe(50);
  });

  it("ignores progress for a job that already finished", () => {
    const job = makeJob({ id: "a", status: "cancelled" });
    state().applyEvent(jobEvent("cancelled", job, 1));
    state().applyEvent(progressEvent("a", 9, 2));
    expect(state().jobs.a.status).toBe("cancelled");
    expect(state().jobs.a.progress).toBeNull();
  });

  it("keeps a finished job finished when an older REST answer arrives", () => {
    const job = makeJob({ id: "a" });
    state().applyEvent(jobEvent("succeeded", { ...job, status: "succeeded" }, 3));
    state().upsert({ ...job, status: "running" });
    expect(state().jobs.a.status).toBe("succeeded");
  });
});

describe("queue order", () => {
  it("keeps the server's run order and slots unlisted jobs in by priority", () => {
    const a = makeJob({ id: "a", priority: 0 });
    const b = makeJob({ id: "b", priority: 5 });
    const c = makeJob({ id: "c", priority: 0 });
    state().setQueue({
      counts: { queued: 3, running: 0, succeeded: 0, failed: 0, cancelled: 0 },
      models: {},
      queued: [b, a, c],
      running: [],
    });
    expect(selectQueued(state()).map((j) => j.id)).toEqual(["b", "a", "c"]);

    // arrives over the socket before the next GET /queue
    state().applyEvent(jobEvent("queued", makeJob({ id: "urgent", priority: 3 }), 1));
    state().applyEvent(jobEvent("queued", makeJob({ id: "late", priority: 0 }), 2));
    expect(selectQueued(state()).map((j) => j.id)).toEqual(["b", "urgent", "a", "c", "late"]);

    // a job that starts leaves the queue
    state().applyEvent(jobEvent("started", { ...b, status: "running" }, 3));
    expect(selectQueued(state()).map((j) => j.id)).toEqual(["urgent", "a", "c", "late"]);
  });

  it("moves a job to the front at once, then asks the server", async () => {
    const a = makeJob({ id: "a" });
    const b = makeJob({ id: "b" });
    state().setQueue({ counts: { queued: 2, running: 0, succeeded: 0, failed: 0, cancelled: 0 }, models: {}, queued: [a, b], running: [] });
    const { calls } = mockApi({
      "PATCH /jobs/b": { body: { ...b, priority: 0 } },
      "GET /queue": { body: { counts: { queued: 2, running: 0, succeeded: 0, failed: 0, cancelled: 0 }, models: {}, queued: [b, a], running: [] } },
    });
    const pending = state().move("b", "front");
    expect(selectQueued(state()).map((j) => j.id)).toEqual(["b", "a"]);
    await pending;
    expect(calls[0]).toMatchObject({ method: "PATCH", body: { front: true } });
    expect(selectQueued(state()).map((j) => j.id)).toEqual(["b", "a"]);
  });

  it("moves up by asking for one more priority than the job ahead", async () => {
    const a = makeJob({ id: "a", priority: 2 });
    const b = makeJob({ id: "b", priority: 0 });
    state().setQueue({ counts: { queued: 2, running: 0, succeeded: 0, failed: 0, cancelled: 0 }, models: {}, queued: [a, b], running: [] });
    const { calls } = mockApi({
      "PATCH /jobs/b": { body: { ...b, priority: 3 } },
      "GET /queue": { body: { counts: { queued: 2, running: 0, succeeded: 0, failed: 0, cancelled: 0 }, models: {}, queued: [{ ...b, priority: 3 }, a], running: [] } },
    });
    await state().move("b", "up");
    expect(calls[0].body).toEqual({ priority: 3 });
    expect(state().jobs.b.priority).toBe(3);
  });

  it("puts the order back and reports when the server refuses a move", async () => {
    const a = makeJob({ id: "a" });
    const b = makeJob({ id: "b" });
    state().setQueue({ counts: { queued: 2, running: 0, succeeded: 0, failed: 0, cancelled: 0 }, models: {}, queued: [a, b], running: [] });
    mockApi({ "PATCH /jobs/b": { status: 409, body: { detail: "job b is running, not queued" } } });
    await expect(state().move("b", "front")).rejects.toThrow("job b is running, not queued");
    expect(selectQueued(state()).map((j) => j.id)).toEqual(["a", "b"]);
  });
});

describe("REST actions", () => {
  it("submits a job and lists it as queued", async () => {
    const job = makeJob({ id: "new", position: 0 });
    const { calls } = mockApi({ "POST /jobs": { status: 202, body: job } });
    await state().submit({ ...job.request });
    expect(calls[0].method).toBe("POST");
    expect(selectQueued(state()).map((j) => j.id)).toEqual(["new"]);
  });

  it("cancels optimistically and reverts when the server says no", async () => {
    const job = makeJob({ id: "a", status: "running" });
    state().upsert(job);
    mockApi({ "DELETE /jobs/a": { status: 409, body: { detail: "job a already finished" } } });
    const pending = state().cancel("a");
    expect(state().jobs.a.cancel_requested).toBe(true);
    await expect(pending).rejects.toThrow("job a already finished");
    expect(state().jobs.a.cancel_requested).toBe(false);
  });

  it("pages through the history with next_cursor", async () => {
    const older = makeJob({ id: "old", status: "succeeded", finished_at: 1 });
    const newer = makeJob({ id: "new", status: "failed", finished_at: 2, error: "boom" });
    const { calls } = mockApi({
      "GET /jobs": (call) =>
        call.url.includes("cursor=") ? { body: { jobs: [older], next_cursor: null } } : { body: { jobs: [newer], next_cursor: "17" } },
    });
    await state().loadHistory();
    expect(state().historyCursor).toBe("17");
    await state().loadHistory(true);
    expect(calls[1].url).toContain("cursor=17");
    expect(selectFinished(state()).map((j) => j.id)).toEqual(["new", "old"]);
    expect(state().historyCursor).toBeNull();
  });
});
