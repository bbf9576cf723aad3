import { act, render, screen, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import type { ClusterState } from "../api/types";
import { useCluster } from "../stores/cluster";
import { mockApi, resetStores } from "../test/fixtures";
import { Cluster, CLUSTER_REFRESH_MS } from "./Cluster";

const GiB = 1024 ** 3;
function cluster(used: number): ClusterState {
  return {
    nodes: [
      {
        id: "abcdef0123456789abcdef",
        address: "10.0.0.5",
        alive: true,
        is_head: true,
        resources_total: { CPU: 16, GPU: 2, memory: 64 * GiB },
        resources_used: { CPU: 3, GPU: 1, memory: 8 * GiB },
        gpus: [
          { index: 0, name: "NVIDIA L4", memory_used: used * GiB, memory_total: 24 * GiB, utilization: 87, temperature: 61, power_w: 70 },
          { index: 1, name: "NVIDIA L4", memory_used: 0, memory_total: 24 * GiB, utilization: 0, temperature: 35, power_w: 16 },
        ],
      },
    ],
    deployments: [
      { name: "Ingress", status: "HEALTHY", target_replicas: 1, running_replicas: 1, replicas: [] },
      {
        name: "Diffusion",
        status: "UPSCALING",
        target_replicas: 3,
        running_replicas: 2,
        replicas: [
          { id: "r1", node_id: "abcdef0123456789abcdef", state: "RUNNING" },
          { id: "r2", node_id: "abcdef0123456789abcdef", state: "RUNNING" },
        ],
      },
    ],
    queue: { "stabilityai/sd-turbo": 4 },
    dashboard_url: "http://10.0.0.5:8265",
  };
}

beforeEach(() => {
  resetStores();
  useCluster.setState({ cluster: null, state: "loading", health: "unknown", updatedAt: null });
  vi.unstubAllGlobals();
});

afterEach(() => vi.useRealTimers());

describe("Cluster", () => {
  it("shows nodes, GPU bars, replicas and queue depth, refreshing every few seconds", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let used = 6;
    mockApi({ "GET /cluster": () => ({ body: cluster(used) }) });
    render(<Cluster />);
    const node = await screen.findByTestId("node-card");
    expect(node).toHaveTextContent("10.0.0.5");
    expect(within(node).getByLabelText("Replicas on this node")).toHaveTextContent("Diffusion ×2");
    expect(within(node).getByRole("meter", { name: "GPU 0 memory" })).toHaveAttribute("aria-valuetext", "6.0 GB / 24.0 GB");
    expect(within(node).getByRole("meter", { name: "GPU 0 utilisation" })).toHaveAttribute("aria-valuetext", "87 %");
    expect(screen.getByRole("row", { name: /Diffusion upscaling 2 \/ 3/ })).toBeInTheDocument();
    expect(screen.getByRole("row", { name: /stabilityai\/sd-turbo 4/ })).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Ray dashboard" })).toHaveAttribute("href", "http://10.0.0.5:8265");
    expect(useCluster.getState().health).toBe("degraded");

    used = 12;
    await act(() => vi.advanceTimersByTimeAsync(CLUSTER_REFRESH_MS));
    expect(await within(node).findByRole("meter", { name: "GPU 0 memory" })).toHaveAttribute("aria-valuetext", "12.0 GB / 24.0 GB");
  });

  it("is calm when the server has no cluster route", async () => {
    mockApi({ "GET /health": { body: { status: "ok", version: "0.1.0" } } });
    render(<Cluster />);
    expect(await screen.findByText("Cluster monitoring is not available on this server yet.")).toBeInTheDocument();
    expect(useCluster.getState().health).toBe("ok");
  });
});
