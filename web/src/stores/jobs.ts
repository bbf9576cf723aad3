// Every job the app knows about, kept current by WebSocket events and REST answers.
//
// Events are applied in cursor order and each at most once, so a socket that
// reconnects with its last cursor (and gets the missed events again) cannot double
// anything; snapshots (sent on a fresh connection) are always taken as the truth.

import { create } from "zustand";

import { api } from "../api/client";
import {
  FINISHED,
  type Job,
  type JobEvent,
  type JobPage,
  type JobStatus,
  type JobSubmission,
  type PriorityChange,
  type QueueState,
} from "../api/types";

export interface Preview {
  image: string;
  step: number;
}

const isFinished = (status: JobStatus) => FINISHED.includes(status);

interface JobsState {
  jobs: Record<string, Job>;
  previews: Record<string, Preview>;
  /** Cursor of the last event applied; the socket resumes from it. */
  cursor: number | null;
  /** Queued job ids in the server's run order (from GET /queue), adjusted optimistically. */
  queueOrder: string[];
  counts: QueueState["counts"] | null;
  /** GET /queue has answered at least once (an empty list means an empty queue). */
  queueLoaded: boolean;
  perModel: QueueState["models"];
  historyCursor: string | null;
  historyLoaded: boolean;

  applyEvent: (event: JobEvent) => boolean;
  upsert: (job: Job, fromEvent?: boolean) => void;
  setQueue: (queue: QueueState) => void;
  loadQueue: () => Promise<void>;
  loadHistory: (more?: boolean) => Promise<void>;
  submit: (request: JobSubmission) => Promise<Job>;
  cancel: (id: string) => Promise<void>;
  move: (id: string, where: "up" | "down" | "front") => Promise<void>;
}

/** A REST answer may be older than what the socket already told us: never go back from finished. */
function shouldReplace(current: Job | undefined, incoming: Job, fromEvent: boolean): boolean {
  if (!current || fromEvent) return true;
  if (isFinished(current.status) && !isFinished(incoming.status)) return false;
  if (current.status === "running" && incoming.status === "queued") return false;
  return true;
}

export const useJobs = create<JobsState>((set, get) => ({
  jobs: {},
  previews: {},
  cursor: null,
  queueOrder: [],
  counts: null,
  queueLoaded: false,
  perModel: {},
  historyCursor: null,
  historyLoaded: false,

  applyEvent: (event) => {
    const { cursor } = get();
    // only job states come as snapshots; the server leaves `snapshot` out when false
    const snapshot = "snapshot" in event && event.snapshot;
    if (!snapshot && cursor !== null && event.cursor <= cursor) return false;
    const nextCursor = cursor === null ? event.cursor : Math.max(cursor, event.cursor);
    set({ cursor: nextCursor });
    switch (event.type) {
      case "queued":
      case "started":
      case "succeeded":
      case "failed":
      case "cancelled":
      case "expired":
        get().upsert(event.job, true);
        break;
      case "progress": {
        const job = get().jobs[event.job_id];
        if (!job || isFinished(job.status)) break;
        const progress = {
          step: event.step,
          total_steps: event.total_steps,
          elapsed_s: event.elapsed_s,
          eta_s: event.eta_s,
        };
        set((s) => ({
          jobs: {
            ...s.jobs,
            [job.id]: { ...job, status: "running", position: null, progress },
          },
          queueOrder: s.queueOrder.filter((id) => id !== job.id),
        }));
        break;
      }
      case "preview": {
        const job = get().jobs[event.job_id];
        if (job && isFinished(job.status)) break;
        set((s) => ({
          previews: { ...s.previews, [event.job_id]: { image: event.image, step: event.step } },
        }));
        break;
      }
      default:
        break;
    }
    return true;
  },

  upsert: (job, fromEvent = false) => {
    const current = get().jobs[job.id];
    if (!shouldReplace(current, job, fromEvent)) return;
    set((s) => {
      const previews = { ...s.previews };
      if (isFinished(job.status)) delete previews[job.id];
      let queueOrder = s.queueOrder;
      if (job.status !== "queued") queueOrder = queueOrder.filter((id) => id !== job.id);
      return { jobs: { ...s.jobs, [job.id]: job }, previews, queueOrder };
    });
  },

  setQueue: (queue) => {
    const { upsert } = get();
    for (const job of [...queue.running, ...queue.queued]) upsert(job);
    set({
      queueOrder: queue.queued.map((j) => j.id),
      counts: queue.counts,
      queueLoaded: true,
      perModel: queue.models,
    });
  },

  loadQueue: async () => {
    get().setQueue(await api<QueueState>("/queue"));
  },

  loadHistory: async (more = false) => {
    const cursor = more ? get().historyCursor : null;
    if (more && !cursor) return;
    const page = await api<JobPage>("/jobs", { query: { limit: 40, cursor } });
    for (const job of page.jobs) get().upsert(job);
    set({ historyCursor: page.next_cursor, historyLoaded: true });
  },

  submit: async (request) => {
    const job = await api<Job>("/jobs", { method: "POST", body: request });
    get().upsert(job);
    set((s) => ({
      queueOrder:
        job.status === "queued" && !s.queueOrder.includes(job.id)
          ? insertByPriority(s.queueOrder, job, s.jobs)
          : s.queueOrder,
    }));
    return job;
  },

  cancel: async (id) => {
    const before = get().jobs[id];
    if (before) set((s) => ({ jobs: { ...s.jobs, [id]: { ...before, cancel_requested: true } } }));
    try {
      get().upsert(await api<Job>(`/jobs/${encodeURIComponent(id)}`, { method: "DELETE" }));
    } catch (err) {
      const now = get().jobs[id];
      if (before && now && !isFinished(now.status)) {
        set((s) => ({ jobs: { ...s.jobs, [id]: { ...now, cancel_requested: before.cancel_requested } } }));
      }
      throw err;
    }
  },

  move: async (id, where) => {
    const order = selectQueued(get()).map((j) => j.id);
    const index = order.indexOf(id);
    const job = get().jobs[id];
    if (index < 0 || !job) return;
    // a move up or down changes the job's priority; one to the front keeps it
    let priority: number | undefined;
    const reordered = order.filter((x) => x !== id);
    if (where === "front") {
      reordered.unshift(id);
    } else if (where === "up") {
      if (index === 0) return;
      const ahead = get().jobs[order[index - 1]];
      priority = Math.min(1000, Math.max(job.priority, ahead.priority + 1));
      reordered.splice(index - 1, 0, id);
    } else {
      if (index === order.length - 1) return;
      const behind = get().jobs[order[index + 1]];
      priority = Math.max(-1000, Math.min(job.priority, behind.priority - 1));
      reordered.splice(index + 1, 0, id);
    }
    const body: PriorityChange = priority === undefined ? { front: true } : { priority };
    const previousOrder = get().queueOrder;
    set((s) => ({
      queueOrder: reordered,
      jobs: priority === undefined ? s.jobs : { ...s.jobs, [id]: { ...job, priority } },
    }));
    try {
      get().upsert(await api<Job>(`/jobs/${encodeURIComponent(id)}`, { method: "PATCH", body }));
    } catch (err) {
      set((s) => ({ queueOrder: previousOrder, jobs: { ...s.jobs, [id]: job } }));
      throw err;
    }
    await get().loadQueue();
  },
}));

/** Puts a newly queued job after every job of higher or equal priority (the board's rule). */
export function insertByPriority(order: string[], job: Job, jobs: Record<string, Job>): string[] {
  const at = order.findIndex((id) => {
    const other = jobs[id];
    return other !== undefined && other.priority < job.priority;
  });
  if (at < 0) return [...order, job.id];
  return [...order.slice(0, at), job.id, ...order.slice(at)];
}

/** Queued jobs in run order: the server's order first, jobs it has not listed yet slotted in by priority. */
export function selectQueued(state: Pick<JobsState, "jobs" | "queueOrder">): Job[] {
  const { jobs } = state;
  let order = state.queueOrder.filter((id) => jobs[id]?.status === "queued");
  const unlisted = Object.values(jobs)
    .filter((j) => j.status === "queued" && !order.includes(j.id))
    .sort((a, b) => b.priority - a.priority || a.created_at - b.created_at);
  for (const job of unlisted) order = insertByPriority(order, job, jobs);
  return order.map((id) => jobs[id]);
}

export function selectRunning(state: Pick<JobsState, "jobs">): Job[] {
  return Object.values(state.jobs)
    .filter((j) => j.status === "running")
    .sort((a, b) => (a.started_at ?? a.created_at) - (b.started_at ?? b.created_at));
}

export function selectFinished(state: Pick<JobsState, "jobs">): Job[] {
  return Object.values(state.jobs)
    .filter((j) => isFinished(j.status))
    .sort((a, b) => (b.finished_at ?? b.created_at) - (a.finished_at ?? a.created_at));
}
