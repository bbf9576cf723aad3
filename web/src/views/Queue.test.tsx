import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";

import { JobViewer } from "../components/JobViewer";
import { useJobs } from "../stores/jobs";
import { useStudio } from "../stores/studio";
import { useCatalog } from "../stores/catalog";
import { makeJob, mockApi, resetStores, SAMPLERS } from "../test/fixtures";
import { Queue } from "./Queue";

const a = makeJob({ id: "a", request: { ...makeJob().request, prompt: "first in line" } });
const b = makeJob({ id: "b", request: { ...makeJob().request, prompt: "second in line" } });
const running = makeJob({ id: "r", status: "running", progress: { step: 12, total_steps: 20, elapsed_s: 4, eta_s: 3.1 } });
const done = makeJob({
  id: "d",
  status: "succeeded",
  finished_at: 5000,
  request: { ...makeJob().request, prompt: "a finished picture", seed: 99 },
  images: [{ index: 0, url: "/api/v1/images/d/0.png", seed: 99, width: 128, height: 128 }],
});
const failed = makeJob({ id: "f", status: "failed", finished_at: 4000, error: "CUDA out of memory" });

function queueBody(queued = [a, b]) {
  return { body: { counts: { queued: queued.length, running: 1, succeeded: 1, failed: 1, cancelled: 0 }, models: {}, queued, running: [running] } };
}

beforeEach(() => {
  resetStores();
  vi.unstubAllGlobals();
  useCatalog.setState({ samplers: SAMPLERS });
});

describe("Queue", () => {
  it("lists running jobs with progress, queued jobs in run order, finished jobs in the gallery", async () => {
    mockApi({ "GET /queue": queueBody(), "GET /jobs": { body: { jobs: [done, failed], next_cursor: null } } });
    render(<Queue />);
    const rows = await screen.findAllByTestId("queued-job");
    expect(rows.map((r) => r.dataset.jobId)).toEqual(["a", "b"]);
    expect(screen.getByTestId("running-job")).toHaveTextContent("step 12 / 20 · 3.1 s left");
    expect(await screen.findByRole("button", { name: /Open "a finished picture"/ })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: /Open failed job/ })).toHaveTextContent("CUDA out of memory");
    expect(within(rows[0]).getByRole("button", { name: /to the front/ })).toBeDisabled();
  });

  it("cancels a queued job", async () => {
    const user = userEvent.setup();
    const { calls } = mockApi({
      "GET /queue": queueBody(),
      "GET /jobs": { body: { jobs: [], next_cursor: null } },
      "DELETE /jobs/b": { body: { ...b, status: "cancelled", finished_at: 6000 } },
    });
    render(<Queue />);
    await screen.findAllByTestId("queued-job");
    await user.click(screen.getByRole("button", { name: 'Cancel "second in line"' }));
    expect(calls.some((c) => c.method === "DELETE" && c.url.endsWith("/jobs/b"))).toBe(true);
    expect(screen.getAllByTestId("queued-job").map((r) => r.dataset.jobId)).toEqual(["a"]);
  });

  it("moves a job to the front and reports a refusal in words", async () => {
    const user = userEvent.setup();
    const { calls } = mockApi({
      "GET /queue": queueBody(),
      "GET /jobs": { body: { jobs: [], next_cursor: null } },
      "PATCH /jobs/b": { status: 409, body: { detail: "job b is not queued" } },
    });
    render(<Queue />);
    await screen.findAllByTestId("queued-job");
    await user.click(screen.getByRole("button", { name: 'Move "second in line" to the front' }));
    expect(calls.find((c) => c.method === "PATCH")?.body).toEqual({ front: true });
    expect(screen.getAllByTestId("queued-job").map((r) => r.dataset.jobId)).toEqual(["a", "b"]);
  });

  it("moves a job to the front without touching its priority, says so, and keeps keyboard focus in the row", async () => {
    const user = userEvent.setup();
    let order = [a, b];
    const { calls } = mockApi({
      "GET /queue": () => queueBody(order),
      "GET /jobs": { body: { jobs: [], next_cursor: null } },
      "PATCH /jobs/b": () => {
        order = [b, a];
        return { body: { ...b, position: 0 } };
      },
    });
    render(<Queue />);
    await screen.findAllByTestId("queued-job");
    const front = screen.getByRole("button", { name: 'Move "second in line" to the front' });
    front.focus();
    await user.keyboard("{Enter}");
    expect(calls.find((c) => c.method === "PATCH")?.body).toEqual({ front: true });
    expect(await screen.findByText("Moved to the front.")).toHaveAttribute("role", "status");
    expect(screen.getAllByTestId("queued-job").map((r) => r.dataset.jobId)).toEqual(["b", "a"]);
    expect(useJobs.getState().jobs.b.priority).toBe(0);
    // its own button is disabled now (it is first): focus stays in the row, on the way back down
    expect(screen.getByRole("button", { name: 'Move "second in line" down' })).toHaveFocus();
  });

  it("after cancelling a queued job, focus goes to the next row's Cancel", async () => {
    const user = userEvent.setup();
    let order = [a, b];
    mockApi({
      "GET /queue": () => queueBody(order),
      "GET /jobs": { body: { jobs: [], next_cursor: null } },
      "DELETE /jobs/a": () => {
        order = [b];
        return { body: { ...a, status: "cancelled", finished_at: 6000 } };
      },
    });
    render(<Queue />);
    await screen.findAllByTestId("queued-job");
    screen.getByRole("button", { name: 'Cancel "first in line"' }).focus();
    await user.keyboard("{Enter}");
    await vi.waitFor(() => expect(screen.getAllByTestId("queued-job").map((r) => r.dataset.jobId)).toEqual(["b"]));
    expect(screen.getByRole("button", { name: 'Cancel "second in line"' })).toHaveFocus();
    expect(screen.getByRole("status")).toHaveTextContent('Cancelled "first in line".');
    expect(document.activeElement).not.toBe(document.body);
  });

  it("after cancelling the last queued job, focus goes to the list's heading", async () => {
    const user = userEvent.setup();
    mockApi({
      "GET /queue": () => queueBody([b]),
      "GET /jobs": { body: { jobs: [], next_cursor: null } },
      "DELETE /jobs/b": { body: { ...b, status: "cancelled", finished_at: 6000 } },
    });
    render(<Queue />);
    await screen.findAllByTestId("queued-job");
    screen.getByRole("button", { name: 'Cancel "second in line"' }).focus();
    await user.keyboard("{Enter}");
    await vi.waitFor(() => expect(screen.queryAllByTestId("queued-job")).toHaveLength(0));
    expect(screen.getByRole("heading", { name: /^Queued/ })).toHaveFocus();
  });

  it("opens a finished image in the viewer and takes its seed to the Studio", async () => {
    const user = userEvent.setup();
    mockApi({ "GET /queue": queueBody([]), "GET /jobs": { body: { jobs: [done], next_cursor: null } } });
    render(
      <>
        <Queue />
        <JobViewer />
      </>,
    );
    await user.click(await screen.findByRole("button", { name: /Open "a finished picture"/ }));
    const dialog = screen.getByRole("dialog");
    expect(dialog).toHaveTextContent("a finished picture");
    expect(within(dialog).getByAltText(/Result 1/)).toHaveAttribute("src", "/api/v1/images/d/0.png");
    expect(within(dialog).getByText("Sampler").nextElementSibling).toHaveTextContent(/^Euler a$/);
    await user.click(within(dialog).getByRole("button", { name: "Use seed" }));
    expect(useStudio.getState().form.seed).toBe(99);
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("takes a finished picture to the Studio as its start picture", async () => {
    const user = userEvent.setup();
    const input = { id: "c".repeat(32), width: 128, height: 128, url: `/api/v1/inputs/${"c".repeat(32)}.png` };
    const { calls } = mockApi({
      "GET /queue": queueBody([]),
      "GET /jobs": { body: { jobs: [done], next_cursor: null } },
      "GET /images/d/0.png": { body: "png bytes" },
      "POST /inputs": { status: 201, body: input },
    });
    render(
      <>
        <Queue />
        <JobViewer />
      </>,
    );
    await user.click(await screen.findByRole("button", { name: /Open "a finished picture"/ }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Use as start picture" }));
    await vi.waitFor(() => expect(useStudio.getState().form.init_image).toEqual(input));
    expect(calls.find((c) => c.method === "POST" && c.url.endsWith("/inputs"))?.body).toBeInstanceOf(FormData);
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("re-runs a finished job with its seed and shows that seed in the Studio's form", async () => {
    const user = userEvent.setup();
    const again = makeJob({ id: "again", request: { ...done.request } });
    const { calls } = mockApi({
      "GET /queue": queueBody([]),
      "GET /jobs": { body: { jobs: [done], next_cursor: null } },
      "POST /jobs": { status: 202, body: again },
    });
    useStudio.getState().update({ seed: null });
    render(
      <>
        <Queue />
        <JobViewer />
      </>,
    );
    await user.click(await screen.findByRole("button", { name: /Open "a finished picture"/ }));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Re-run" }));
    expect(calls.find((c) => c.method === "POST")?.body).toMatchObject({ seed: 99 });
    expect(useStudio.getState().form.seed).toBe(99);
    expect(useStudio.getState().activeJobId).toBe("again");
  });

  it("loads more history while the server has more", async () => {
    const user = userEvent.setup();
    const { calls } = mockApi({
      "GET /queue": queueBody([]),
      "GET /jobs": (call) => (call.url.includes("cursor=") ? { body: { jobs: [failed], next_cursor: null } } : { body: { jobs: [done], next_cursor: "9" } }),
    });
    render(<Queue />);
    await user.click(await screen.findByRole("button", { name: "Load more" }));
    expect(calls.some((c) => c.url.includes("cursor=9"))).toBe(true);
    expect(await screen.findByRole("button", { name: /Open failed job/ })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();
    expect(Object.keys(useJobs.getState().jobs)).toEqual(expect.arrayContaining(["d", "f"]));
  });
});
