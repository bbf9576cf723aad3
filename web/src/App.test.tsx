import { act, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { App } from "./App";
import { eventSocket, useConnection } from "./api/socket";
import { API_KEY_STORAGE } from "./stores/auth";
import { useJobs } from "./stores/jobs";
import { useRoute } from "./stores/route";
import { useServer } from "./stores/server";
import { makeConfig, makeJob, makeLora, makeModel, mockApi, resetStores, SAMPLERS } from "./test/fixtures";


const emptyQueue = { counts: { queued: 2, running: 1, succeeded: 0, failed: 0, cancelled: 0 }, models: {}, queued: [], running: [] };

function serverRoutes(auth: boolean, key = "secret") {
  const guarded = (body: unknown) => (call: { headers: Record<string, string> }) =>
    !auth || call.headers.Authorization === `Bearer ${key}` ? { body } : { status: 401, body: { detail: "missing or invalid API key" } };
  return {
    "GET /config": { body: makeConfig({ auth_required: auth }) },
    "GET /models": guarded({ models: [] }),
    "GET /samplers": guarded({ samplers: [{ name: "euler_a", label: "Euler a" }] }),
    "GET /loras": guarded({ loras: [] }),
    "GET /queue": guarded(emptyQueue),
    "GET /jobs": guarded({ jobs: [], next_cursor: null }),
    "GET /health": { body: { status: "ok", version: "0.1.0" } },
  };
}

/** mockApi's routes while `up.value`, a network failure (no answer at all) otherwise. */
function flakyServer(routes: Parameters<typeof mockApi>[0], up: { value: boolean }) {
  const { calls, fetchMock } = mockApi(routes);
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      if (!up.value) throw new TypeError("Failed to fetch");
      return fetchMock(input, init);
    }),
  );
  return calls;
}

const fullCatalog = {
  "GET /models": { body: { models: [makeModel(), makeModel({ id: "local/other", source: "local", default: false, deletable: true })] } },
  "GET /samplers": { body: { samplers: SAMPLERS } },
  "GET /loras": { body: { loras: [makeLora()] } },
};

beforeEach(() => {
  resetStores();
  useConnection.setState({ state: "connecting", retries: 0 });
  useServer.setState({ browserOnline: true, reachable: null });
  vi.unstubAllGlobals();
  vi.spyOn(eventSocket, "restart").mockImplementation(() => undefined);
  vi.spyOn(eventSocket, "stop").mockImplementation(() => undefined);
  useRoute.setState({ view: "studio" });
});

afterEach(() => vi.restoreAllMocks());

describe("App", () => {
  it("has the five views in the navigation, the queue depth and the status dots", async () => {
    const user = userEvent.setup();
    mockApi(serverRoutes(false));
    render(<App />);
    const nav = screen.getByRole("navigation", { name: "Main" });
    for (const name of ["Studio", "Queue", "LoRAs", "Models", "Cluster"]) expect(nav).toHaveTextContent(name);
    expect(await screen.findByRole("button", { name: "Queue: 2 queued, 1 running" })).toBeInTheDocument();
    expect(screen.getByRole("status", { name: /Connecting|Reconnecting|Live/ })).toBeInTheDocument();

    await user.click(screen.getByRole("link", { name: /Models/ }));
    expect(screen.getByRole("heading", { name: "Models", level: 1 })).toBeInTheDocument();
    expect(window.location.pathname).toBe("/models");
    expect(screen.getByRole("link", { name: /Models/ })).toHaveAttribute("aria-current", "page");
  });

  it("asks once for the API key when the server requires one, then sends it", async () => {
    const user = userEvent.setup();
    const { calls } = mockApi(serverRoutes(true));
    render(<App />);
    const dialog = await screen.findByRole("dialog", { name: "API key required" });
    await user.type(screen.getByLabelText("API key"), "secret");
    await user.click(screen.getByRole("button", { name: "Save key" }));
    expect(dialog).not.toBeInTheDocument();
    expect(localStorage.getItem(API_KEY_STORAGE)).toBe("secret");
    await screen.findByRole("button", { name: "Queue: 2 queued, 1 running" });
    const authed = calls.filter((c) => c.url.startsWith("/api/v1/samplers"));
    expect(authed.at(-1)?.headers.Authorization).toBe("Bearer secret");
    expect(eventSocket.restart).toHaveBeenCalledTimes(2);
  });

  it("asks again when the server refuses the saved key", async () => {
    localStorage.setItem(API_KEY_STORAGE, "stale");
    const { useAuth } = await import("./stores/auth");
    useAuth.setState({ apiKey: "stale" });
    mockApi(serverRoutes(true));
    render(<App />);
    expect(await screen.findByText("The server refused the saved API key. Enter the right one.")).toBeInTheDocument();
  });

  it("reloads the catalog when the socket comes back after a drop (models, sampler labels, LoRAs, version)", async () => {
    const up = { value: false };
    const calls = flakyServer({ ...serverRoutes(false), ...fullCatalog }, up);
    render(<App />);
    await vi.waitFor(() => expect(useServer.getState().reachable).toBe(false));
    const model = screen.getByLabelText("Model");
    expect(within(model).getAllByRole("option").map((o) => o.textContent)).toEqual(["Default"]);

    up.value = true;
    act(() => useConnection.getState().set("reconnecting", 1));
    act(() => useConnection.getState().set("live", 0));
    expect(await within(model).findByRole("option", { name: "local/other" })).toBeInTheDocument();
    expect(within(model).getAllByRole("option")[0]).toHaveTextContent("Default (novagenia/tiny-random)");
    expect(within(screen.getByLabelText("Sampler")).getByRole("option", { name: "Euler a" })).toBeInTheDocument();
    expect(screen.getByText("v0.1.0")).toBeInTheDocument();
    for (const path of ["/config", "/models", "/samplers", "/loras", "/queue", "/jobs"]) {
      expect(calls.some((c) => c.url.startsWith(`/api/v1${path}`)), path).toBe(true);
    }
  });

  it("reloads what was loaded when the page comes back online", async () => {
    const calls = flakyServer({ ...serverRoutes(false), ...fullCatalog }, { value: true });
    render(<App />);
    await screen.findByText("v0.1.0");
    const before = calls.filter((c) => c.url.startsWith("/api/v1/models")).length;
    act(() => {
      window.dispatchEvent(new Event("offline"));
      window.dispatchEvent(new Event("online"));
    });
    await vi.waitFor(() => expect(calls.filter((c) => c.url.startsWith("/api/v1/models")).length).toBe(before + 1));
    for (const path of ["/config", "/samplers", "/loras"]) {
      expect(calls.filter((c) => c.url.startsWith(`/api/v1${path}`)).length, path).toBeGreaterThanOrEqual(2);
    }
  });

  it("offline: one banner, no toast storm, Generate disabled, no false claims of empty lists", async () => {
    flakyServer(serverRoutes(false), { value: false });
    render(<App />);
    const banner = await screen.findByTestId("offline-banner");
    expect(banner).toHaveTextContent("NovaGenIA cannot be reached");
    await act(async () => {
      await useJobs.getState().loadQueue().catch(() => undefined);
    });
    expect(screen.getAllByRole("alert")).toEqual([banner]);
    expect(document.querySelectorAll(".toast")).toHaveLength(0);
    expect(screen.getByRole("button", { name: /Generate/ })).toBeDisabled();

    act(() => useRoute.getState().navigate("queue"));
    expect(screen.queryByText("The queue is empty.")).toBeNull();
    expect(screen.getAllByText("The server cannot be reached, so the queue is not known yet.").length).toBeGreaterThan(0);
    act(() => useRoute.getState().navigate("loras"));
    expect(await screen.findByText("The server cannot be reached, so the library is not known yet.")).toBeInTheDocument();
    expect(screen.queryByText(/The library is empty/)).toBeNull();
    expect(screen.getByLabelText("Upload a LoRA file")).toBeDisabled();
    expect(screen.getAllByRole("alert")).toEqual([banner]);
  });

  it("offline after a load: keeps the last queue on screen, disables Move and Cancel, and clears when back", async () => {
    const up = { value: true };
    const queued = [makeJob({ id: "q1" }), makeJob({ id: "q2" })];
    flakyServer({ ...serverRoutes(false), "GET /queue": { body: { ...emptyQueue, queued } } }, up);
    useRoute.setState({ view: "queue" });
    render(<App />);
    expect(await screen.findAllByTestId("queued-job")).toHaveLength(2);

    up.value = false;
    act(() => window.dispatchEvent(new Event("offline")));
    expect(await screen.findByTestId("offline-banner")).toHaveTextContent("This device has no network");
    expect(screen.getAllByTestId("queued-job")).toHaveLength(2);
    for (const button of screen.getAllByRole("button", { name: /^(Move|Cancel) / })) expect(button).toBeDisabled();

    up.value = true;
    act(() => window.dispatchEvent(new Event("online")));
    await vi.waitFor(() => expect(screen.queryByTestId("offline-banner")).toBeNull());
    expect(screen.getByRole("button", { name: /^Cancel "prompt of q1"/ })).toBeEnabled();
  });
});
