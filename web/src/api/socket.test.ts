import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { useAuth } from "../stores/auth";
import { useDownloads } from "../stores/downloads";
import { useJobs } from "../stores/jobs";
import { jobEvent, makeDownload, makeJob, mockApi, progressEvent, resetStores } from "../test/fixtures";
import { backoffDelay, EventSocket, parseEvent, socketUrl, useConnection } from "./socket";

/** A WebSocket the test drives by hand. */
class FakeSocket {
  static made: FakeSocket[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((m: { data: string }) => void) | null = null;
  onclose: ((c: { code: number }) => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    FakeSocket.made.push(this);
  }
  close() {
    this.closed = true;
  }
  open() {
    this.onopen?.();
  }
  send(event: unknown) {
    this.onmessage?.({ data: JSON.stringify(event) });
  }
  drop(code = 1006) {
    this.onclose?.({ code });
  }
}

const factory = (url: string) => new FakeSocket(url) as unknown as WebSocket;
const last = () => FakeSocket.made[FakeSocket.made.length - 1];
const loc = { protocol: "http:", host: "example.test:7860" } as Location;

beforeEach(() => {
  resetStores();
  FakeSocket.made = [];
  vi.useFakeTimers();
  mockApi({ "GET /queue": { body: { counts: { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 }, models: {}, queued: [], running: [] } } });
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("socketUrl", () => {
  it("carries the cursor and the API key", () => {
    expect(socketUrl(null, null, loc)).toBe("ws://example.test:7860/api/v1/ws");
    expect(socketUrl(41, "s3cret", loc)).toBe("ws://example.test:7860/api/v1/ws?cursor=41&api_key=s3cret");
    expect(socketUrl(1, null, { protocol: "https:", host: "x" } as Location)).toBe("wss://x/api/v1/ws?cursor=1");
  });
});

describe("backoffDelay", () => {
  it("doubles from half a second up to 15 s, with jitter around it", () => {
    const mid = () => 0.5;
    expect([0, 1, 2, 3, 4, 5, 6, 10].map((n) => backoffDelay(n, mid))).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    expect(backoffDelay(0, () => 0)).toBe(375);
    expect(backoffDelay(0, () => 1)).toBe(625);
  });
});

describe("parseEvent", () => {
  it("reads the one event of a message and nothing else", () => {
    const event = progressEvent("a", 3, 5);
    expect(parseEvent(JSON.stringify(event))).toEqual(event);
    expect(parseEvent(JSON.stringify([event]))).toBeNull();
    expect(parseEvent("not json")).toBeNull();
    expect(parseEvent("null")).toBeNull();
    expect(parseEvent(JSON.stringify({ cursor: 5 }))).toBeNull();
  });
});

describe("EventSocket", () => {
  it("applies events, shows live, and after a drop resumes from its last cursor", async () => {
    const socket = new EventSocket(factory);
    socket.start();
    expect(useConnection.getState().state).toBe("connecting");
    expect(last().url).toMatch(/\/api\/v1\/ws$/);

    last().open();
    expect(useConnection.getState().state).toBe("live");
    const job = makeJob({ id: "a", status: "running" });
    last().send(jobEvent("started", job, 7, true));
    last().send(progressEvent("a", 4, 8));
    expect(useJobs.getState().jobs.a.progress?.step).toBe(4);

    last().drop();
    expect(useConnection.getState().state).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(700);
    expect(FakeSocket.made).toHaveLength(2);
    expect(last().url).toContain("cursor=8");

    // the server replays from the cursor; a duplicate is not applied twice
    last().open();
    last().send(progressEvent("a", 4, 8));
    last().send(progressEvent("a", 6, 9));
    expect(useJobs.getState().jobs.a.progress?.step).toBe(6);
    expect(useConnection.getState().state).toBe("live");
    socket.stop();
  });

  it("backs off further on each failed attempt and resets once live", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const socket = new EventSocket(factory);
    socket.start();
    last().drop();
    await vi.advanceTimersByTimeAsync(499);
    expect(FakeSocket.made).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.made).toHaveLength(2);
    last().drop();
    await vi.advanceTimersByTimeAsync(999);
    expect(FakeSocket.made).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.made).toHaveLength(3);
    expect(useConnection.getState().retries).toBe(2);
    last().open();
    expect(useConnection.getState().retries).toBe(0);
    socket.stop();
  });

  it("sends the API key and asks for a new one when the server refuses it", () => {
    useAuth.setState({ apiKey: "wrong" });
    const socket = new EventSocket(factory);
    socket.start();
    expect(last().url).toContain("api_key=wrong");
    last().drop(1008);
    expect(useAuth.getState().prompting).toBe(true);
    expect(useAuth.getState().rejected).toBe(true);
    socket.stop();
  });

  it("routes download progress to the downloads store", () => {
    const socket = new EventSocket(factory);
    socket.start();
    last().open();
    const download = makeDownload({ status: "running", bytes_done: 10, bytes_total: 100, files_total: 3 });
    last().send({ type: "download", job_id: "", cursor: 3, ts: 3, download });
    expect(useDownloads.getState().downloads.d1.bytes_done).toBe(10);
    socket.stop();
  });

  it("stops for good when stopped", async () => {
    const socket = new EventSocket(factory);
    socket.start();
    socket.stop();
    expect(last().closed).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.made).toHaveLength(1);
  });
});
