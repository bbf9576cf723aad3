import { act, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import { Toasts } from "../components/Toasts";
import { useCatalog } from "../stores/catalog";
import { useJobs } from "../stores/jobs";
import { useStudio } from "../stores/studio";
import { jobEvent, makeConfig, makeJob, makeLora, makeModel, mockApi, progressEvent, resetStores, SAMPLERS, SCHNELL_CAPABILITIES, SD_CAPABILITIES } from "../test/fixtures";
import { Studio } from "./Studio";

beforeEach(() => {
  resetStores();
  vi.unstubAllGlobals();
  useCatalog.setState({
    config: makeConfig(),
    models: [makeModel()],
    samplers: SAMPLERS,
    loras: [makeLora()],
    lorasState: "ready",
  });
});

function renderStudio() {
  return render(
    <>
      <Studio />
      <Toasts />
    </>,
  );
}

describe("Studio", () => {
  it("labels every control", () => {
    renderStudio();
    for (const name of ["Prompt", "Negative prompt", "Model", "Sampler", "Seed", "Batch size", /^Priority/]) {
      expect(screen.getByLabelText(name)).toBeInTheDocument();
    }
    expect(screen.getByRole("slider", { name: "Steps" })).toBeInTheDocument();
    expect(screen.getByRole("spinbutton", { name: "CFG scale value" })).toBeInTheDocument();
    expect(screen.getByRole("radiogroup", { name: "Image size" })).toBeInTheDocument();
    expect(screen.getByRole("radiogroup", { name: "Speed" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Random seed" })).toBeInTheDocument();
  });

  it("sends the form as a generation request and follows the job on the canvas", async () => {
    const user = userEvent.setup();
    const job = makeJob({ id: "j1", position: 0 });
    const { calls } = mockApi({ "POST /jobs": { status: 202, body: job } });
    renderStudio();

    await user.type(screen.getByLabelText("Prompt"), "a red circle");
    await user.selectOptions(screen.getByLabelText("Sampler"), "dpmpp_2m");
    const steps = screen.getByRole("spinbutton", { name: "Steps value" });
    await user.clear(steps);
    await user.type(steps, "30{Enter}");
    await user.click(screen.getByRole("radio", { name: /^3:4/ }));
    await user.type(screen.getByLabelText("Seed"), "1234");
    await user.click(screen.getByRole("radio", { name: "Fast" }));
    expect(screen.getByText("attention reused between steps")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: /Generate/ }));

    expect(calls[0].body).toEqual({
      prompt: "a red circle",
      negative_prompt: "",
      steps: 30,
      guidance_scale: 7,
      sampler: "dpmpp_2m",
      batch_size: 1,
      loras: [],
      priority: 0,
      speed: "fast",
      width: 112,
      height: 144,
      seed: 1234,
    });
    expect(await screen.findByText("runs next")).toBeInTheDocument();

    act(() => {
      useJobs.getState().applyEvent(jobEvent("started", { ...job, status: "running" }, 1));
      useJobs.getState().applyEvent(progressEvent("j1", 12, 2));
    });
    const bar = screen.getByRole("progressbar", { name: "Generation progress" });
    expect(bar).toHaveAttribute("aria-valuenow", "12");
    expect(screen.getByText("step 12 / 20 · 0.8 s left")).toBeInTheDocument();

    act(() => {
      useJobs.getState().applyEvent({ type: "preview", job_id: "j1", cursor: 3, ts: 3, step: 12, image: "data:image/png;base64,AAAA" });
    });
    expect(screen.getByAltText("Preview at step 12")).toHaveAttribute("src", "data:image/png;base64,AAAA");

    act(() => {
      useJobs.getState().applyEvent(
        jobEvent("succeeded", { ...job, status: "succeeded", started_at: 10, finished_at: 12.5, images: [{ index: 0, url: "/api/v1/images/j1/0.png", seed: 1234, width: 112, height: 144 }] }, 4),
      );
    });
    expect(screen.getByAltText(/Result 1/)).toHaveAttribute("src", "/api/v1/images/j1/0.png");
    expect(screen.getByTestId("result-meta")).toHaveTextContent("seed 1234");
    expect(useStudio.getState().lastSeed).toBe(1234);
  });

  it("shows every job started here in this session, newest first, each with its progress or result", async () => {
    const user = userEvent.setup();
    const first = makeJob({ id: "s1", request: { ...makeJob().request, prompt: "first picture" } });
    const second = makeJob({ id: "s2", request: { ...makeJob().request, prompt: "second picture" } });
    const answers = [first, second];
    mockApi({ "POST /jobs": () => ({ status: 202, body: answers.shift() }) });
    renderStudio();
    await user.type(screen.getByLabelText("Prompt"), "first picture");
    await user.click(screen.getByRole("button", { name: /Generate/ }));
    await user.clear(screen.getByLabelText("Prompt"));
    await user.type(screen.getByLabelText("Prompt"), "second picture");
    await user.click(screen.getByRole("button", { name: /Generate/ }));

    const list = await screen.findByRole("list", { name: "Jobs of this session, newest first" });
    expect(within(list).getAllByTestId("session-job").map((li) => li.dataset.jobId)).toEqual(["s2", "s1"]);

    act(() => {
      useJobs.getState().applyEvent(jobEvent("succeeded", { ...first, status: "succeeded", images: [{ index: 0, url: "/api/v1/images/s1/0.png", seed: 5, width: 128, height: 128 }] }, 1));
      useJobs.getState().applyEvent(jobEvent("started", { ...second, status: "running" }, 2));
      useJobs.getState().applyEvent(progressEvent("s2", 5, 3));
    });
    const [newest, earlier] = within(list).getAllByTestId("session-job");
    expect(within(newest).getByRole("progressbar", { name: 'Progress of "second picture"' })).toHaveAttribute("aria-valuenow", "5");
    expect(earlier.querySelector("img")).toHaveAttribute("src", "/api/v1/images/s1/0.png");
    expect(earlier).toHaveTextContent("succeeded");

    // the earlier result goes on the canvas on demand
    await user.click(within(earlier).getByRole("button", { name: 'Show "first picture" on the canvas' }));
    expect(screen.getByAltText("Result 1: first picture")).toHaveAttribute("src", "/api/v1/images/s1/0.png");
    expect(within(earlier).getByRole("button", { name: /Show "first picture"/ })).toHaveAttribute("aria-pressed", "true");
  });

  it("names the sampler by its label and lists the LoRAs in the result line", () => {
    const job = makeJob({
      id: "done",
      status: "succeeded",
      request: { ...makeJob().request, loras: [{ name: "pixel_art", weight: 0.8 }] },
      images: [{ index: 0, url: "/api/v1/images/done/0.png", seed: 3, width: 128, height: 128 }],
    });
    useJobs.getState().upsert(job);
    useStudio.getState().setActive(job);
    renderStudio();
    const meta = screen.getByTestId("result-meta");
    expect(meta).toHaveTextContent("Euler a");
    expect(meta).not.toHaveTextContent("euler_a");
    expect(meta).toHaveTextContent("LoRAs pixel_art 0.8");
  });

  it("offers only the samplers of the chosen model, and says so when it replaces one that does not apply", async () => {
    const user = userEvent.setup();
    useCatalog.setState({
      models: [makeModel(), makeModel({ id: "local/dpm-only", source: "local", default: false, deletable: true, samplers: ["dpmpp_2m"] })],
    });
    renderStudio();
    const sampler = screen.getByLabelText("Sampler");
    expect(within(sampler).getAllByRole("option").map((o) => o.textContent)).toEqual(["Euler a", "DPM++ 2M"]);
    expect(sampler).toHaveValue("euler_a");

    await user.selectOptions(screen.getByLabelText("Model"), "local/dpm-only");
    expect(within(sampler).getAllByRole("option").map((o) => o.textContent)).toEqual(["DPM++ 2M"]);
    expect(sampler).toHaveValue("dpmpp_2m");
    expect(useStudio.getState().form.sampler).toBe("dpmpp_2m");
    expect(sampler).toHaveAccessibleDescription("DPM++ 2M chosen: Euler a does not apply to local/dpm-only.");
  });

  it("switches to a model family's own settings and leaves out what that model cannot take", async () => {
    const user = userEvent.setup();
    const job = makeJob({ id: "j2", position: 0 });
    const { calls } = mockApi({ "POST /jobs": { status: 202, body: job } });
    useCatalog.setState({
      samplers: [...SAMPLERS, { name: "flow_euler", label: "Euler (flow)" }],
      models: [
        makeModel(),
        makeModel({ id: "acme/schnell", source: "local", default: false, deletable: true, native_size: 1024, samplers: ["flow_euler"], capabilities: SCHNELL_CAPABILITIES }),
      ],
    });
    renderStudio();
    await user.type(screen.getByLabelText("Prompt"), "a cat");
    await user.type(screen.getByLabelText("Negative prompt"), "blur");

    await user.selectOptions(screen.getByLabelText("Model"), "acme/schnell");
    expect(screen.getByLabelText("Sampler")).toHaveValue("flow_euler");
    expect(screen.getByLabelText("Sampler")).toHaveAccessibleDescription("Flux settings: Euler (flow), 4 steps, guidance 0.");
    expect(screen.getByRole("spinbutton", { name: "Steps value" })).toHaveValue(4);
    expect(screen.getByLabelText("Negative prompt")).toBeDisabled();
    expect(screen.getByLabelText("Negative prompt")).toHaveAccessibleDescription(/Flux has no classifier-free guidance/);
    expect(screen.queryByRole("spinbutton", { name: /CFG scale|Guidance/ })).not.toBeInTheDocument();
    expect(screen.getByLabelText(/^Width/)).toHaveAttribute("step", "16");

    await user.click(screen.getByRole("button", { name: /Generate/ }));
    expect(calls[0].body).toEqual({ prompt: "a cat", model: "acme/schnell", steps: 4, sampler: "flow_euler", batch_size: 1, loras: [], priority: 0, speed: "quality" });
  });

  it("starts from an uploaded picture, seamless and with the hires fix, where the model takes them", async () => {
    const user = userEvent.setup();
    const input = { id: "a".repeat(32), width: 64, height: 64, url: `/api/v1/inputs/${"a".repeat(32)}.png` };
    const { calls } = mockApi({ "POST /inputs": { status: 201, body: input }, "POST /jobs": { status: 202, body: makeJob() } });
    renderStudio();
    await user.type(screen.getByLabelText("Prompt"), "a red circle");
    await user.upload(screen.getByLabelText("Start image"), new File([new Uint8Array([137, 80, 78, 71])], "in.png", { type: "image/png" }));
    expect(await screen.findByRole("img", { name: "Start image" })).toBeInTheDocument();
    expect(calls.find((c) => c.method === "POST" && c.url.endsWith("/inputs"))?.body).toBeInstanceOf(FormData);
    const strength = screen.getByRole("spinbutton", { name: "Strength value" });
    await user.clear(strength);
    await user.type(strength, "0.5{Enter}");
    await user.click(screen.getByRole("checkbox", { name: /Seamless/ }));
    await user.click(screen.getByRole("checkbox", { name: /Hires fix/ }));
    await user.click(screen.getByRole("radio", { name: "Latent" }));
    await user.click(screen.getByRole("button", { name: /Generate/ }));
    const sent = calls.find((c) => c.method === "POST" && c.url.endsWith("/jobs"))?.body as Record<string, unknown>;
    expect(sent).toMatchObject({ init_image: input.id, strength: 0.5, tiling: true, hires: { scale: 2, strength: 0.5, upscaler: "latent" } });

    await user.click(screen.getByRole("button", { name: "Remove" }));
    const flat = { ...SD_CAPABILITIES, image_inputs: false, tiling: false };
    act(() => useCatalog.setState({ models: [makeModel({ capabilities: flat })] }));
    expect(screen.queryByLabelText("Start image")).not.toBeInTheDocument();
    expect(screen.queryByRole("checkbox", { name: /Seamless/ })).not.toBeInTheDocument();
    expect(screen.queryByRole("checkbox", { name: /Hires fix/ })).not.toBeInTheDocument();
  });

  it("guides the job by ControlNet units, each with the preview of its control map", async () => {
    const user = userEvent.setup();
    const input = { id: "b".repeat(32), width: 64, height: 64, url: `/api/v1/inputs/${"b".repeat(32)}.png` };
    const controlnets = [
      { id: "novagenia/tiny-shapes-canny", source: "embedded", family: "sd", size_bytes: 1 },
      { id: "acme/xl-canny", source: "local", family: "sdxl", size_bytes: 1 },
    ];
    act(() => useCatalog.setState({ controlnets }));
    const { calls } = mockApi({
      "POST /inputs": { status: 201, body: input },
      "POST /jobs": { status: 202, body: makeJob() },
    });
    renderStudio();
    await user.type(screen.getByLabelText("Prompt"), "a red circle");
    await user.click(screen.getByRole("button", { name: "Add a ControlNet" }));
    const unit = screen.getByRole("group", { name: "ControlNet 1" });
    expect(within(within(unit).getByLabelText("Model")).getAllByRole("option").map((o) => o.textContent)).toEqual(["novagenia/tiny-shapes-canny"]);
    expect(within(unit).queryByRole("img")).not.toBeInTheDocument(); // no picture yet
    await user.upload(within(unit).getByLabelText("ControlNet 1 picture"), new File([new Uint8Array([137, 80, 78, 71])], "edges.png", { type: "image/png" }));
    const preview = await within(unit).findByRole("img", { name: "ControlNet 1 control map" });
    expect(preview.getAttribute("src")).toBe(`/api/v1/controlnet/preprocess?image=${input.id}&preprocessor=canny`);
    await user.selectOptions(within(unit).getByLabelText("Preprocessor"), "scribble");
    expect(within(unit).getByRole("img", { name: "ControlNet 1 control map" }).getAttribute("src")).toContain("preprocessor=scribble");
    const weight = within(unit).getByRole("spinbutton", { name: "ControlNet 1 weight value" });
    await user.clear(weight);
    await user.type(weight, "0.6{Enter}");
    await user.click(screen.getByRole("button", { name: /Generate/ }));
    const sent = calls.find((c) => c.method === "POST" && c.url.endsWith("/jobs"))?.body as Record<string, unknown>;
    expect(sent.controlnet).toEqual([
      { model: "novagenia/tiny-shapes-canny", image: input.id, preprocessor: { name: "scribble" }, weight: 0.6, guidance_start: 0, guidance_end: 1 },
    ]);

    await user.click(within(unit).getByRole("button", { name: "Remove ControlNet 1" }));
    expect(screen.queryByRole("group", { name: "ControlNet 1" })).not.toBeInTheDocument();
    act(() => useCatalog.setState({ models: [makeModel({ capabilities: { ...SD_CAPABILITIES, controlnet: false } })] }));
    expect(screen.queryByRole("button", { name: "Add a ControlNet" })).not.toBeInTheDocument();
  });

  it("generates with Ctrl+Enter", async () => {
    const user = userEvent.setup();
    const { calls } = mockApi({ "POST /jobs": { status: 202, body: makeJob() } });
    renderStudio();
    await user.type(screen.getByLabelText("Prompt"), "shapes");
    await user.keyboard("{Control>}{Enter}{/Control}");
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(1);
  });

  it("shows the server's refusal beside Generate", async () => {
    const user = userEvent.setup();
    mockApi({ "POST /jobs": { status: 422, body: { detail: [{ loc: ["body", "model"], msg: "unknown model 'x'" }] } } });
    renderStudio();
    await user.type(screen.getByLabelText("Prompt"), "shapes");
    await user.click(screen.getByRole("button", { name: /Generate/ }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Could not start the generation");
    expect(alert).toHaveTextContent("model: unknown model 'x'");
    expect(alert.closest(".generate-bar")).not.toBeNull();
    expect(screen.getByRole("button", { name: /Generate/ })).toHaveAccessibleDescription(/unknown model 'x'/);
  });

  it("explains beside Generate that a LoRA does not fit the chosen model, and warns in the mixer first", async () => {
    const user = userEvent.setup();
    useCatalog.setState({ loras: [makeLora({ fits: ["local/other"] })] });
    mockApi({
      "POST /jobs": {
        status: 422,
        body: { detail: [{ loc: ["body", "loras"], msg: "LoRA 'pixel_art' does not fit model 'novagenia/tiny-random': its layers differ" }] },
      },
    });
    renderStudio();
    await user.selectOptions(screen.getByLabelText("LoRA to add"), "pixel_art");
    await user.click(screen.getByRole("button", { name: "Add" }));
    expect(screen.getByText("Does not fit novagenia/tiny-random: the server will refuse a job with it.")).toBeVisible();

    await user.type(screen.getByLabelText("Prompt"), "shapes");
    await user.click(screen.getByRole("button", { name: /Generate/ }));
    const alert = await screen.findByTestId("submit-error");
    expect(alert).toHaveAttribute("role", "alert");
    expect(alert).toHaveTextContent("Could not start the generation: loras: LoRA 'pixel_art' does not fit model 'novagenia/tiny-random'");
    expect(document.querySelectorAll(".toast")).toHaveLength(0);

    // it stays until the form changes
    await user.click(screen.getByRole("button", { name: "Remove LoRA pixel_art" }));
    expect(screen.queryByTestId("submit-error")).toBeNull();
  });

  it("cancels the job on the canvas", async () => {
    const user = userEvent.setup();
    const job = makeJob({ id: "j2", status: "running", progress: { step: 1, total_steps: 20, elapsed_s: 0.1, eta_s: 2 } });
    useJobs.getState().upsert(job);
    useStudio.getState().setActive(job);
    const { calls } = mockApi({ "DELETE /jobs/j2": { body: { ...job, cancel_requested: true } } });
    renderStudio();
    await user.click(screen.getByRole("button", { name: "Cancel" }));
    expect(calls[0]).toMatchObject({ method: "DELETE", url: "/api/v1/jobs/j2" });
    expect(await screen.findByRole("button", { name: "Cancelling…" })).toBeDisabled();
  });

  it("mixes LoRAs: add from the library, weigh, insert trigger words, remove", async () => {
    const user = userEvent.setup();
    renderStudio();
    await user.selectOptions(screen.getByLabelText("LoRA to add"), "pixel_art");
    await user.click(screen.getByRole("button", { name: "Add" }));
    expect(useStudio.getState().form.loras).toEqual([{ name: "pixel_art", weight: 0.8 }]);

    const weight = screen.getByRole("spinbutton", { name: "pixel_art weight value" });
    await user.clear(weight);
    await user.type(weight, "-3{Enter}");
    // out of range: kept as typed, explained beside the field, never clamped silently
    expect(weight).toHaveValue(-3);
    expect(weight).toHaveAttribute("aria-invalid", "true");
    expect(weight).toHaveAccessibleDescription("Must be from −2 to 2.");
    await user.clear(weight);
    await user.type(weight, "-1.5{Enter}");
    expect(useStudio.getState().form.loras[0].weight).toBe(-1.5);
    expect(weight).not.toHaveAttribute("aria-invalid");

    await user.type(screen.getByLabelText("Prompt"), "a cat");
    await user.click(screen.getByRole("button", { name: 'Insert trigger word "pixel style" in the prompt' }));
    expect(useStudio.getState().form.prompt).toBe("a cat, pixel style");

    await user.click(screen.getByRole("button", { name: "Remove LoRA pixel_art" }));
    expect(useStudio.getState().form.loras).toEqual([]);
  });

  it("clears the seed with the dice and reuses the last one", async () => {
    const user = userEvent.setup();
    useStudio.setState({ lastSeed: 777 });
    renderStudio();
    const seed = screen.getByLabelText("Seed");
    await user.click(screen.getByRole("button", { name: "Reuse last seed (777)" }));
    expect(seed).toHaveValue(777);
    await user.click(screen.getByRole("button", { name: "Random seed" }));
    expect(seed).toHaveValue(null);
    expect(useStudio.getState().form.seed).toBeNull();
  });

  it.each([
    ["Steps value", "0", "Must be from 1 to 150."],
    ["Steps value", "999", "Must be from 1 to 150."],
    ["CFG scale value", "-3", "Must be from 0 to 30."],
    ["Batch size", "50", "Must be from 1 to 8."],
    ["Priority", "99999", "Must be from −1000 to 1000."],
    ["Seed", "-5", "Must be −1 (random) or from 0 to 4294967295."],
  ])("shows %s %s as an error beside the field and refuses to generate", async (field, typed, message) => {
    const user = userEvent.setup();
    const { calls } = mockApi({ "POST /jobs": { status: 202, body: makeJob() } });
    renderStudio();
    await user.type(screen.getByLabelText("Prompt"), "shapes");
    const input = screen.getByRole("spinbutton", { name: new RegExp(`^${field}`) });
    await user.clear(input);
    await user.type(input, `${typed}{Enter}`);
    expect(input).toHaveValue(Number(typed));
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(input).toHaveAccessibleDescription(expect.stringContaining(message));
    expect(screen.getByText(message)).toBeVisible();

    const generate = screen.getByRole("button", { name: /Generate/ });
    expect(generate).toBeDisabled();
    expect(generate).toHaveAccessibleDescription(/^Fix this field first/);
    await user.keyboard("{Control>}{Enter}{/Control}");
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(0);
    expect(input).toHaveFocus();
  });

  it("takes its limits from the server's config", async () => {
    const user = userEvent.setup();
    useCatalog.setState({ config: makeConfig({ limits: { min_size: 64, max_size: 1024, max_steps: 50, max_batch_size: 4 } }) });
    renderStudio();
    const steps = screen.getByRole("spinbutton", { name: "Steps value" });
    await user.clear(steps);
    await user.type(steps, "60");
    expect(steps).toHaveAccessibleDescription("Must be from 1 to 50.");
    const batch = screen.getByLabelText("Batch size");
    await user.clear(batch);
    await user.type(batch, "5");
    expect(batch).toHaveAccessibleDescription("Must be from 1 to 4.");
    await user.clear(batch);
    await user.type(batch, "4");
    expect(batch).not.toHaveAttribute("aria-invalid");
  });

  it("reaches every size the server accepts with width and height fields, validated like the others", async () => {
    const user = userEvent.setup();
    const { calls } = mockApi({ "POST /jobs": { status: 202, body: makeJob() } });
    renderStudio();
    await user.type(screen.getByLabelText("Prompt"), "shapes");
    const width = screen.getByRole("spinbutton", { name: /^Width/ });
    const height = screen.getByRole("spinbutton", { name: /^Height/ });
    await user.type(width, "2048");
    // the other side starts from the model's native size, shown, not hidden
    expect(height).toHaveValue(128);
    await user.clear(height);
    await user.type(height, "2048");
    expect(within(screen.getByRole("radiogroup", { name: "Image size" })).queryByRole("radio", { checked: true })).toBeNull();
    await user.click(screen.getByRole("button", { name: /Generate/ }));
    expect(calls[0].body).toMatchObject({ width: 2048, height: 2048 });

    await user.clear(width);
    await user.type(width, "2050");
    expect(width).toHaveAttribute("aria-invalid", "true");
    expect(width).toHaveAccessibleDescription("Must be from 64 to 2048.");
    await user.clear(width);
    await user.type(width, "1020");
    expect(width).toHaveAccessibleDescription("Must be a multiple of 8.");
    expect(screen.getByRole("button", { name: /Generate/ })).toBeDisabled();

    // a preset sets both sides
    await user.click(screen.getByRole("radio", { name: /^Native/ }));
    expect(width).toHaveValue(null);
    expect(height).toHaveValue(null);
    expect(screen.getByRole("button", { name: /Generate/ })).toBeEnabled();
  });

  it("makes the size presets one Tab stop, moved through with the arrow keys", async () => {
    const user = userEvent.setup();
    renderStudio();
    const group = screen.getByRole("radiogroup", { name: "Image size" });
    const radios = within(group).getAllByRole("radio");
    expect(radios.filter((r) => r.tabIndex === 0)).toEqual([radios[0]]);

    screen.getByLabelText("CFG scale value").focus();
    await user.tab();
    expect(radios[0]).toHaveFocus();
    await user.keyboard("{ArrowRight}");
    expect(radios[1]).toHaveFocus();
    expect(radios[1]).toHaveAttribute("aria-checked", "true");
    expect(useStudio.getState().form).toMatchObject({ width: 128, height: 128 });
    expect(radios.filter((r) => r.tabIndex === 0)).toEqual([radios[1]]);
    await user.keyboard("{ArrowLeft}{ArrowLeft}");
    expect(radios[radios.length - 1]).toHaveFocus();
    expect(radios[radios.length - 1]).toHaveAttribute("aria-checked", "true");
    await user.keyboard("{Home}");
    expect(radios[0]).toHaveAttribute("aria-checked", "true");
    // one Tab leaves the whole group
    await user.tab();
    expect(screen.getByRole("spinbutton", { name: /^Width/ })).toHaveFocus();
  });

  it("takes seed −1 as random (AUTOMATIC1111): no seed is sent", async () => {
    const user = userEvent.setup();
    const { calls } = mockApi({ "POST /jobs": { status: 202, body: makeJob() } });
    renderStudio();
    await user.type(screen.getByLabelText("Prompt"), "shapes");
    await user.type(screen.getByLabelText("Seed"), "-1");
    expect(screen.getByLabelText("Seed")).toHaveValue(-1);
    expect(screen.getByLabelText("Seed")).toHaveAccessibleDescription(/random/);
    await user.click(screen.getByRole("button", { name: /Generate/ }));
    expect(calls[0].body).not.toHaveProperty("seed");

    await user.clear(screen.getByLabelText("Seed"));
    await user.type(screen.getByLabelText("Seed"), "0");
    await user.click(screen.getByRole("button", { name: /Generate/ }));
    expect(calls[1].body).toMatchObject({ seed: 0 });
  });

  it("draws each size preset with its ratio and keeps native selected by default", () => {
    renderStudio();
    const group = screen.getByRole("radiogroup", { name: "Image size" });
    const native = within(group).getByRole("radio", { name: /Native/ });
    expect(native).toHaveAttribute("aria-checked", "true");
    expect(within(group).getByRole("radio", { name: "16:9 (168×96)" })).toBeInTheDocument();
    expect(group.querySelectorAll("svg.ratio")).toHaveLength(8);
  });
});
