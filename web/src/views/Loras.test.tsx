import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import { Toasts } from "../components/Toasts";
import { useStudio } from "../stores/studio";
import { useCatalog } from "../stores/catalog";
import { makeLora, makeModel, mockApi, resetStores } from "../test/fixtures";
import { Loras } from "./Loras";

const pixel = makeLora();
const ink = makeLora({ name: "ink_wash", title: "Ink wash", tags: ["painting"], trigger_words: [], base_model: "sdxl" });

beforeEach(() => {
  resetStores();
  vi.unstubAllGlobals();
});

const renderLoras = () =>
  render(
    <>
      <Loras />
      <Toasts />
    </>,
  );

describe("LoRAs", () => {
  it("shows a calm notice when the server has no LoRA routes", async () => {
    mockApi({});
    renderLoras();
    expect(await screen.findByText("The LoRA library is not available on this server yet.")).toBeInTheDocument();
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("filters cards by text and by tag", async () => {
    const user = userEvent.setup();
    mockApi({ "GET /loras": { body: { loras: [pixel, ink] } } });
    renderLoras();
    expect(await screen.findAllByTestId("lora-card")).toHaveLength(2);
    await user.type(screen.getByLabelText("Search LoRAs"), "ink");
    expect(screen.getAllByTestId("lora-card")).toHaveLength(1);
    await user.clear(screen.getByLabelText("Search LoRAs"));
    await user.click(within(screen.getByRole("radiogroup", { name: "Filter by tag" })).getByRole("radio", { name: "style" }));
    expect(screen.getAllByTestId("lora-card").map((c) => c.textContent)).toEqual([expect.stringContaining("Pixel art")]);
  });

  it("uploads a dropped-in file and offers to replace an existing one", async () => {
    const user = userEvent.setup();
    let uploads = 0;
    const { calls } = mockApi({
      "GET /loras": { body: { loras: [pixel] } },
      "POST /loras": (call) => {
        uploads += 1;
        return call.url.includes("overwrite=true")
          ? { status: 201, body: pixel }
          : uploads === 1
            ? { status: 201, body: ink }
            : { status: 409, body: { detail: "LoRA pixel_art already exists" } };
      },
    });
    renderLoras();
    await screen.findAllByTestId("lora-card");
    const input = screen.getByLabelText("Upload a LoRA file");
    await user.upload(input, new File(["x"], "ink_wash.safetensors"));
    expect(await screen.findByText("LoRA added")).toBeInTheDocument();
    expect(screen.getAllByTestId("lora-card")).toHaveLength(2);
    expect(calls.find((c) => c.method === "POST")?.body).toBeInstanceOf(FormData);

    await user.upload(input, new File(["x"], "pixel_art.safetensors"));
    // words for people, with the choice beside them; not the API's "?overwrite=true"
    expect(await screen.findByText("A LoRA named pixel_art exists.")).toBeVisible();
    expect(screen.queryByRole("alert")).toBeNull();
    expect(document.body).not.toHaveTextContent(/overwrite/i);
    expect(screen.getByRole("button", { name: "Keep the old one" })).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Replace it" }));
    expect(calls.some((c) => c.url.includes("overwrite=true"))).toBe(true);
    expect(await screen.findByText("LoRA replaced")).toBeInTheDocument();
  });

  it("the duplicate's message never repeats the API's instructions", async () => {
    const user = userEvent.setup();
    mockApi({
      "GET /loras": { body: { loras: [pixel] } },
      "POST /loras": { status: 409, body: { detail: "LoRA 'pixel_art' exists; pass ?overwrite=true to replace it" } },
    });
    renderLoras();
    await screen.findAllByTestId("lora-card");
    await user.upload(screen.getByLabelText("Upload a LoRA file"), new File(["x"], "pixel_art.safetensors"));
    expect(await screen.findByText("A LoRA named pixel_art exists.")).toBeVisible();
    expect(document.body).not.toHaveTextContent(/overwrite/i);
  });

  it("shows the server's words for a file that is not really a safetensors file", async () => {
    const user = userEvent.setup();
    mockApi({
      "GET /loras": { body: { loras: [] } },
      "POST /loras": { status: 422, body: { detail: "not a safetensors file: the header is not JSON" } },
    });
    renderLoras();
    await screen.findByText(/The library is empty/);
    await user.upload(screen.getByLabelText("Upload a LoRA file"), new File(["fake"], "fake.safetensors"));
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not upload fake.safetensors: not a safetensors file: the header is not JSON");
  });

  it("shows which installed models each LoRA fits, and warns at upload when it fits none", async () => {
    const user = userEvent.setup();
    const stray = makeLora({ name: "stray", title: "", base_model: null, fits: [] });
    mockApi({
      "GET /loras": { body: { loras: [pixel] } },
      "POST /loras": { status: 201, body: stray },
    });
    useCatalog.setState({ models: [makeModel()] });
    renderLoras();
    const [card] = await screen.findAllByTestId("lora-card");
    expect(within(card).getByTestId("lora-fits")).toHaveTextContent("Fits novagenia/tiny-random");

    await user.upload(screen.getByLabelText("Upload a LoRA file"), new File(["x"], "stray.safetensors"));
    expect(await screen.findByTestId("upload-note")).toHaveTextContent(
      "stray fits none of the installed models (novagenia/tiny-random): a job using it will be refused",
    );
    const strayCard = screen.getAllByTestId("lora-card").find((c) => c.textContent?.includes("stray"))!;
    expect(within(strayCard).getByTestId("lora-fits")).toHaveTextContent("Fits none of the installed models");
    expect(strayCard).not.toHaveTextContent("any base");
  });

  it("refuses a file that is not .safetensors before sending it", async () => {
    const user = userEvent.setup({ applyAccept: false });
    const { calls } = mockApi({ "GET /loras": { body: { loras: [] } } });
    renderLoras();
    await screen.findByText(/The library is empty/);
    await user.upload(screen.getByLabelText("Upload a LoRA file"), new File(["x"], "model.ckpt"));
    expect(await screen.findByRole("alert")).toHaveTextContent("model.ckpt is not a .safetensors file.");
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(0);
  });

  it("edits the metadata and sends it with PUT", async () => {
    const user = userEvent.setup();
    const { calls } = mockApi({
      "GET /loras": { body: { loras: [pixel] } },
      "PUT /loras/pixel_art": (call) => ({ body: { ...pixel, ...(call.body as object) } }),
    });
    renderLoras();
    await user.click(await screen.findByRole("button", { name: "Edit pixel_art" }));
    const dialog = screen.getByRole("dialog", { name: "Edit pixel_art" });
    const tags = within(dialog).getByLabelText(/Tags/);
    await user.clear(tags);
    await user.type(tags, "style, retro ,");
    await user.click(within(dialog).getByRole("button", { name: "Save" }));
    expect(calls.find((c) => c.method === "PUT")?.body).toEqual({
      title: "Pixel art",
      description: "",
      tags: ["style", "retro"],
      trigger_words: ["pixel style"],
      default_weight: 0.8,
    });
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(screen.getByTestId("lora-card")).toHaveTextContent("retro");
  });

  it("sends a LoRA to the Studio's mixer with its default weight", async () => {
    const user = userEvent.setup();
    mockApi({ "GET /loras": { body: { loras: [pixel] } } });
    renderLoras();
    await user.click(await screen.findByRole("button", { name: "Use pixel_art in the Studio" }));
    expect(useStudio.getState().form.loras).toEqual([{ name: "pixel_art", weight: 0.8 }]);
  });
});
