// One fetch wrapper for the whole app: base path, the API key, and errors turned into
// words (the server's `detail`) so no caller can swallow them silently.

import { useAuth } from "../stores/auth";
import { useServer } from "../stores/server";

export const API_BASE = "/api/v1";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly detail: unknown = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

interface ValidationIssue {
  loc?: (string | number)[];
  msg?: string;
}

/** Turns FastAPI's `detail` (a string, or a list of validation issues) into one sentence. */
export function describeDetail(detail: unknown): string | null {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    const parts = (detail as ValidationIssue[]).map((issue) => {
      const where = (issue.loc ?? []).filter((p) => p !== "body" && p !== "query").join(".");
      return where ? `${where}: ${issue.msg ?? "invalid"}` : (issue.msg ?? "invalid");
    });
    return parts.length ? parts.join("; ") : null;
  }
  if (detail && typeof detail === "object") return JSON.stringify(detail);
  return null;
}

const STATUS_WORDS: Record<number, string> = {
  401: "An API key is required",
  403: "Not allowed",
  404: "Not found",
  409: "Conflict with the current state",
  413: "Too large",
  422: "Invalid request",
  503: "The server is busy, try again shortly",
};

export function authHeaders(): Record<string, string> {
  const key = useAuth.getState().apiKey;
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Record<string, string | number | boolean | null | undefined>;
  signal?: AbortSignal;
}

export function buildUrl(path: string, query?: RequestOptions["query"]): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const qs = params.toString();
  return `${API_BASE}${path}${qs ? `?${qs}` : ""}`;
}

/** Calls the API; resolves with the parsed JSON (or null for 204), rejects with ApiError. */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...authHeaders() };
  let body: BodyInit | undefined;
  if (options.body instanceof FormData) {
    body = options.body;
  } else if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(buildUrl(path, options.query), {
      method: options.method ?? "GET",
      headers,
      body,
      signal: options.signal,
    });
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    useServer.getState().setReachable(false);
    throw new ApiError(0, "Cannot reach the server");
  }
  useServer.getState().setReachable(true);
  if (response.status === 401) useAuth.getState().requireKey(Boolean(useAuth.getState().apiKey));
  if (!response.ok) {
    let detail: unknown = null;
    try {
      detail = ((await response.json()) as { detail?: unknown }).detail ?? null;
    } catch {
      detail = null;
    }
    const words = describeDetail(detail) ?? STATUS_WORDS[response.status] ?? response.statusText;
    throw new ApiError(response.status, words || `HTTP ${response.status}`, detail);
  }
  if (response.status === 204) return null as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : null) as T;
}

/** The request never got an answer: the offline banner says so, not a toast per request. */
export const isUnreachable = (err: unknown): boolean => err instanceof ApiError && err.status === 0;

export const isNotAvailable = (err: unknown): boolean =>
  err instanceof ApiError && (err.status === 404 || err.status === 405 || err.status === 501);
