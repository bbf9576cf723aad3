import { beforeEach, describe, expect, it, vi } from "vitest";

import { API_KEY_STORAGE, useAuth } from "../stores/auth";
import { mockApi, resetStores } from "../test/fixtures";
import { api, ApiError, describeDetail } from "./client";

beforeEach(() => {
  resetStores();
  vi.unstubAllGlobals();
});

describe("describeDetail", () => {
  it("reads FastAPI's string and validation-list shapes", () => {
    expect(describeDetail("job abc not found")).toBe("job abc not found");
    expect(
      describeDetail([
        { loc: ["body", "steps"], msg: "Input should be less than or equal to 150" },
        { loc: ["body", "loras", 0, "weight"], msg: "too strong" },
      ]),
    ).toBe("steps: Input should be less than or equal to 150; loras.0.weight: too strong");
    expect(describeDetail(null)).toBeNull();
  });
});

describe("api", () => {
  it("throws the server's words with the status", async () => {
    mockApi({ "GET /jobs/x": { status: 404, body: { detail: "no job x" } } });
    const error = (await api("/jobs/x").catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(404);
    expect(error.message).toBe("no job x");
  });

  it("falls back to plain words when the body has no detail", async () => {
    mockApi({ "GET /queue": { status: 503, body: {} } });
    await expect(api("/queue")).rejects.toThrow("The server is busy, try again shortly");
  });

  it("says the server cannot be reached when fetch fails", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    await expect(api("/health")).rejects.toThrow("Cannot reach the server");
  });

  it("sends the stored key as a bearer token", async () => {
    useAuth.getState().setKey("k-123");
    expect(localStorage.getItem(API_KEY_STORAGE)).toBe("k-123");
    const { calls } = mockApi({ "GET /health": { body: { status: "ok" } } });
    await api("/health");
    expect(calls[0].headers.Authorization).toBe("Bearer k-123");
  });

  it("asks for a key on 401", async () => {
    mockApi({ "POST /jobs": { status: 401, body: { detail: "missing or invalid API key" } } });
    await expect(api("/jobs", { method: "POST", body: {} })).rejects.toThrow("missing or invalid API key");
    expect(useAuth.getState().prompting).toBe(true);
    expect(useAuth.getState().rejected).toBe(false);
  });

  it("encodes the query and skips empty values", async () => {
    const { calls } = mockApi({ "GET /hub/search": { body: { models: [], offline: false } } });
    await api("/hub/search", { query: { q: "sd turbo", limit: 5, tag: "" } });
    expect(calls[0].url).toBe("/api/v1/hub/search?q=sd+turbo&limit=5");
  });
});
