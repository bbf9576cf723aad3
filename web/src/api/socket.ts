// The one WebSocket of the app: every job's events (and download progress), reconnecting
// by itself with exponential backoff and resuming from the last cursor it applied.

import { create } from "zustand";

import { useAuth } from "../stores/auth";
import { useDownloads } from "../stores/downloads";
import { useJobs } from "../stores/jobs";
import type { JobEvent } from "./types";
import { API_BASE } from "./client";

export type SocketState = "connecting" | "live" | "reconnecting";

interface ConnectionState {
  state: SocketState;
  /** Failed attempts since the socket was last live. */
  retries: number;
  set: (state: SocketState, retries: number) => void;
}

export const useConnection = create<ConnectionState>((set) => ({
  state: "connecting",
  retries: 0,
  set: (state, retries) => set({ state, retries }),
}));

/** Delay before reconnect attempt `retries` (0-based): 0.5 s doubling to 15 s, with jitter. */
export function backoffDelay(retries: number, random: () => number = Math.random): number {
  const base = Math.min(15000, 500 * 2 ** retries);
  return Math.round(base * (0.75 + 0.5 * random()));
}

export function socketUrl(cursor: number | null, apiKey: string | null, loc: Location = window.location): string {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  const params = new URLSearchParams();
  if (cursor !== null) params.set("cursor", String(cursor));
  if (apiKey) params.set("api_key", apiKey);
  const qs = params.toString();
  return `${scheme}//${loc.host}${API_BASE}/ws${qs ? `?${qs}` : ""}`;
}

/** The event a message carries (the server sends one per message); null for anything else. */
export function parseEvent(data: unknown): JobEvent | null {
  let event: unknown;
  try {
    event = JSON.parse(String(data));
  } catch {
    return null;
  }
  if (event === null || typeof event !== "object" || Array.isArray(event)) return null;
  return "type" in event && typeof event.type === "string" ? (event as JobEvent) : null;
}

/** Routes one decoded event to its store; returns false for duplicates (already applied). */
export function dispatchEvent(event: JobEvent): boolean {
  const applied = useJobs.getState().applyEvent(event);
  if (applied && event.type === "download") useDownloads.getState().apply(event.download);
  return applied;
}

type SocketFactory = (url: string) => WebSocket;

export class EventSocket {
  private ws: WebSocket | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private retries = 0;
  private stopped = true;
  private queueRefresh: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly factory: SocketFactory = (url) => new WebSocket(url)) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  }

  /** Closes and reopens at once (after the API key changed, or the tab came back online). */
  restart(): void {
    this.stop();
    this.retries = 0;
    this.start();
  }

  private open(): void {
    const connection = useConnection.getState();
    connection.set(this.retries === 0 ? "connecting" : "reconnecting", this.retries);
    const url = socketUrl(useJobs.getState().cursor, useAuth.getState().apiKey);
    let ws: WebSocket;
    try {
      ws = this.factory(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.retries = 0;
      useConnection.getState().set("live", 0);
      // anything that changed while we were away and is not in the event log (e.g. order)
      this.refreshQueueSoon(0);
    };
    ws.onmessage = (message) => {
      if (this.ws !== ws) return;
      const event = parseEvent(message.data);
      if (!event) return;
      if (dispatchEvent(event) && event.type !== "progress" && event.type !== "preview" && event.type !== "download") {
        this.refreshQueueSoon(400);
      }
    };
    ws.onclose = (close) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (close.code === 4401 || close.code === 1008) {
        useAuth.getState().requireKey(Boolean(useAuth.getState().apiKey));
      }
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and reconnects
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.retries);
    this.retries += 1;
    useConnection.getState().set("reconnecting", this.retries);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) this.open();
    }, delay);
  }

  /** Queue order and counts come from GET /queue; refresh it, coalescing bursts of events. */
  private refreshQueueSoon(delayMs: number): void {
    if (this.queueRefresh) return;
    this.queueRefresh = setTimeout(() => {
      this.queueRefresh = null;
      useJobs
        .getState()
        .loadQueue()
        .catch(() => {
          // the top bar's own polling reports a server that is down
        });
    }, delayMs);
  }
}

export const eventSocket = new EventSocket();
