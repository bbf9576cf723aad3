import { create } from "zustand";

import { api } from "../api/client";
import type { Download } from "../api/types";

interface DownloadsState {
  downloads: Record<string, Download>;
  apply: (download: Download) => void;
  load: () => Promise<void>;
  start: (repoId: string) => Promise<Download>;
  cancel: (id: string) => Promise<void>;
}

export const useDownloads = create<DownloadsState>((set, get) => ({
  downloads: {},
  apply: (download) => set((s) => ({ downloads: { ...s.downloads, [download.id]: download } })),
  load: async () => {
    const { downloads } = await api<{ downloads: Download[] }>("/hub/downloads");
    for (const d of downloads) get().apply(d);
  },
  start: async (repoId) => {
    const download = await api<Download>("/hub/downloads", { method: "POST", body: { repo_id: repoId } });
    get().apply(download);
    return download;
  },
  cancel: async (id) => {
    const download = await api<Download | null>(`/hub/downloads/${encodeURIComponent(id)}`, {
      method: "DELETE",
    });
    if (download) get().apply(download);
  },
}));

/** The newest download of a repo, for showing progress on its card. */
export function latestDownloadFor(downloads: Record<string, Download>, repoId: string): Download | null {
  const matching = Object.values(downloads).filter((d) => d.repo_id === repoId);
  const active = matching.find((d) => d.status === "queued" || d.status === "running");
  return active ?? matching[matching.length - 1] ?? null;
}
