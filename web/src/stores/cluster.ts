import { create } from "zustand";

import { api, isNotAvailable } from "../api/client";
import type { ClusterState } from "../api/types";
import type { Availability } from "./catalog";

export type Health = "ok" | "degraded" | "down" | "unknown";

interface ClusterStore {
  cluster: ClusterState | null;
  state: Availability;
  health: Health;
  updatedAt: number | null;
  refresh: () => Promise<void>;
}

/** Green when every node is alive and every deployment healthy, amber otherwise. */
export function clusterHealth(cluster: ClusterState): Health {
  const nodesOk = cluster.nodes.length > 0 && cluster.nodes.every((n) => n.alive);
  const deploymentsOk = cluster.deployments.every((d) => d.status.toUpperCase() === "HEALTHY");
  return nodesOk && deploymentsOk ? "ok" : "degraded";
}

export const useCluster = create<ClusterStore>((set) => ({
  cluster: null,
  state: "loading",
  health: "unknown",
  updatedAt: null,
  refresh: async () => {
    try {
      const cluster = await api<ClusterState>("/cluster");
      set({ cluster, state: "ready", health: clusterHealth(cluster), updatedAt: Date.now() });
    } catch (err) {
      if (isNotAvailable(err)) {
        // no cluster route on this server: health is whether the API answers at all
        try {
          await api("/health");
          set({ state: "unavailable", health: "ok" });
        } catch {
          set({ state: "unavailable", health: "down" });
        }
        return;
      }
      set({ state: "error", health: "down" });
      throw err;
    }
  },
}));
