import { act, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import { Toasts } from "../components/Toasts";
import { dispatchEvent } from "../api/socket";
import type { HubModel } from "../api/types";
import { makeDownload, makeModel, mockApi, resetStores, SCHNELL_CAPABILITIES } from "../test/fixtures";
import { Models } from "./Models";

const tiny = makeModel();
const turbo = makeModel({ id: "stabilityai/sd-turbo", source: "local", size_bytes: 2_500_000_000, native_size: 512, default: false, deletable: true });
const hit: HubModel = { id: "stabilityai/sd-turbo", downloads: 1_200_000, likes: 400, tags: [], last_modified: null, pipeline_class: "StableDiffusionPipeline", gated: false, private: false };
const other = { ...hit, id: "someone/pixel-diffusion", downloads: 50 };

beforeEach(() => {
  resetStores();
  vi.unstubAllGlobals();
});

const renderModels = () =>
  render(
    <>
      <Models />
      <Toasts />
    </>,
  );

describe("Models", () => {
  it("lists installed models and deletes one after a confirmation, URL-encoding its id", async () => {
    const user = userEvent.setup();
    const { calls } = mockApi({
      "GET /models": { body: { models: [tiny, turbo] } },
      "DELETE /models/stabilityai/sd-turbo": { status: 204 },
    });
    renderModels();
    expect(await screen.findAllByTestId("model-card")).toHaveLength(2);
    await user.click(screen.getByRole("button", { name: "Delete stabilityai/sd-turbo" }));
    expect(calls.some((c) => c.method === "DELETE")).toBe(false);
    await user.click(screen.getByRole("button", { name: "Really delete stabilityai/sd-turbo?" }));
    expect(calls.find((c) => c.method === "DELETE")?.url).toBe("/api/v1/models/stabilityai/sd-turbo");
    expect(screen.getAllByTestId("model-card")).toHaveLength(1);
  });

  it("shows each model's family and what it takes, and a model this server cannot run", async () => {
    const schnell = makeModel({ id: "acme/schnell", source: "local", default: false, deletable: true, native_size: 1024, capabilities: SCHNELL_CAPABILITIES });
    const foreign = makeModel({ id: "acme/kandinsky", source: "local", default: false, deletable: true, pipeline_class: "KandinskyV22Pipeline", samplers: [], capabilities: null });
    mockApi({ "GET /models": { body: { models: [tiny, schnell, foreign] } } });
    renderModels();
    const [sd, flux, other] = await screen.findAllByTestId("model-card");
    expect(sd).toHaveTextContent("Stable Diffusion 1.x/2.x");
    expect(sd).toHaveTextContent("20 steps");
    expect(sd).toHaveTextContent("CFG 7");
    expect(flux).toHaveTextContent("Flux");
    expect(flux).toHaveTextContent("4 steps");
    expect(flux).toHaveTextContent("no guidance");
    expect(flux).toHaveTextContent("no negative prompt");
    expect(other).toHaveTextContent("KandinskyV22Pipeline");
    expect(other).toHaveTextContent("cannot run here");
  });

  it("says how a model's weights are held where the configuration changed it", async () => {
    const flux = makeModel({ id: "acme/flux", memory: { quantize: "int8", offload: "model", vae_slicing: true, vae_tiling: true } });
    mockApi({ "GET /models": { body: { models: [tiny, flux] } } });
    renderModels();
    const [plain, held] = await screen.findAllByTestId("model-card");
    expect(held).toHaveTextContent("int8 weights");
    expect(held).toHaveTextContent("model offload");
    expect(held).toHaveTextContent("VAE slicing");
    expect(plain).not.toHaveTextContent("weights");
    expect(plain).not.toHaveTextContent("offload");
  });

  it("offers Delete only for models the server would delete", async () => {
    const embedded = makeModel({ id: "novagenia/tiny-shapes", default: false, deletable: false });
    const defaultLocal = makeModel({ id: "local/default-one", source: "local", default: true, deletable: false });
    mockApi({ "GET /models": { body: { models: [tiny, embedded, defaultLocal, turbo] } } });
    renderModels();
    expect(await screen.findAllByTestId("model-card")).toHaveLength(4);
    expect(screen.getAllByRole("button", { name: /^Delete / }).map((b) => b.getAttribute("aria-label"))).toEqual(["Delete stabilityai/sd-turbo"]);
  });

  it("without `deletable` from the server, offers Delete for local models that are not the default", async () => {
    const bare = ({ deletable: _deletable, ...rest }: ReturnType<typeof makeModel>) => rest;
    mockApi({
      "GET /models": {
        body: {
          models: [
            bare(tiny),
            bare(makeModel({ id: "local/default-one", source: "local", default: true })),
            bare(makeModel({ id: "local/mine", source: "local", default: false })),
          ],
        },
      },
    });
    renderModels();
    expect(await screen.findAllByTestId("model-card")).toHaveLength(3);
    expect(screen.getAllByRole("button", { name: /^Delete / }).map((b) => b.getAttribute("aria-label"))).toEqual(["Delete local/mine"]);
  });

  it("explains a refused delete with the server's words", async () => {
    const user = userEvent.setup();
    mockApi({
      "GET /models": { body: { models: [tiny, turbo] } },
      "DELETE /models/stabilityai/sd-turbo": { status: 409, body: { detail: "model stabilityai/sd-turbo is used by 2 jobs" } },
    });
    renderModels();
    await user.click(await screen.findByRole("button", { name: "Delete stabilityai/sd-turbo" }));
    await user.click(screen.getByRole("button", { name: "Really delete stabilityai/sd-turbo?" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("model stabilityai/sd-turbo is used by 2 jobs");
  });

  it("searches the Hub and shows download progress on the card from socket events", async () => {
    const user = userEvent.setup();
    const { calls } = mockApi({
      "GET /models": { body: { models: [tiny] } },
      "GET /hub/downloads": { body: { downloads: [] } },
      "GET /hub/search": { body: { models: [hit, other], offline: false } },
      "POST /hub/downloads": { status: 202, body: makeDownload({ repo_id: hit.id }) },
    });
    renderModels();
    await user.type(screen.getByLabelText("Search Hub models"), "turbo");
    await user.click(screen.getByRole("button", { name: "Search" }));
    expect(calls.find((c) => c.url.startsWith("/api/v1/hub/search"))?.url).toContain("q=turbo");
    expect(await screen.findAllByTestId("hub-card")).toHaveLength(2);

    await user.click(screen.getByRole("button", { name: `Download ${hit.id}` }));
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ repo_id: hit.id });
    expect(screen.getByRole("button", { name: `Download ${hit.id}` })).toBeDisabled();

    act(() => {
      dispatchEvent({
        type: "download",
        job_id: "",
        cursor: 5,
        ts: 5,
        download: makeDownload({ repo_id: hit.id, status: "running", bytes_done: 512 * 1024 * 1024, bytes_total: 2048 * 1024 * 1024, files_done: 1, files_total: 4 }),
      });
    });
    const bar = screen.getByRole("progressbar", { name: `Download of ${hit.id}` });
    expect(bar).toHaveAttribute("aria-valuenow", "25");
    expect(bar).toHaveAttribute("aria-valuetext", "512 MB / 2.0 GB · file 1 / 4");
  });

  it("says so when the Hub cannot be reached or searched", async () => {
    const user = userEvent.setup();
    mockApi({ "GET /models": { body: { models: [tiny] } }, "GET /hub/search": { body: { models: [], offline: true } } });
    renderModels();
    await user.click(screen.getByRole("button", { name: "Search" }));
    expect(await screen.findByText("The Hub cannot be reached from the server (offline).")).toBeInTheDocument();
  });

  it("says inline, until the next search, that the Hub cannot be reached (502/503/504 with the server's detail)", async () => {
    const user = userEvent.setup();
    let answer: { status: number; body: unknown } = { status: 504, body: { detail: "the Hugging Face Hub did not answer within 5 s" } };
    mockApi({ "GET /models": { body: { models: [tiny] } }, "GET /hub/search": () => answer });
    renderModels();
    await user.type(screen.getByLabelText("Search Hub models"), "turbo");
    await user.click(screen.getByRole("button", { name: "Search" }));
    const notice = await screen.findByTestId("hub-error");
    expect(notice).toHaveAttribute("role", "alert");
    expect(notice).toHaveTextContent("The Hugging Face Hub cannot be reached from the server: the Hugging Face Hub did not answer within 5 s");
    expect(document.querySelectorAll(".toast")).toHaveLength(0);
    expect(screen.getByRole("button", { name: "Search" })).toBeEnabled();

    // it stays (a toast would have gone) until the next search
    await new Promise((r) => setTimeout(r, 50));
    expect(screen.getByTestId("hub-error")).toBeInTheDocument();
    answer = { status: 200, body: { models: [hit], offline: false } };
    await user.click(screen.getByRole("button", { name: "Search" }));
    expect(await screen.findAllByTestId("hub-card")).toHaveLength(1);
    expect(screen.queryByTestId("hub-error")).toBeNull();
  });

  it("shows a calm notice when hub search does not exist on the server", async () => {
    const user = userEvent.setup();
    mockApi({ "GET /models": { body: { models: [tiny] } } });
    renderModels();
    await user.click(screen.getByRole("button", { name: "Search" }));
    expect(await screen.findByText("Hub search is not available on this server yet.")).toBeInTheDocument();
    expect(screen.queryByRole("alert")).toBeNull();
  });
});
