import { create } from "zustand";

import { api } from "../api/client";
import type { Download, DownloadList, DownloadRequest } from "../api/types";

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
    const { downloads } = await api<DownloadList>("/hub/downloads");
    for (const d of downloads) get().apply(d);
  },
  start: async (repoId) => {
    const body: DownloadRequest = { repo_id: repoId };
    const download = await api<Download>("/hub/downloads", { method: "POST", body });
    get().apply(download);
    return download;
  },
  cancel: async (id) => {
    get().apply(await api<Download>(`/hub/downloads/${encodeURIComponent(id)}`, { method: "DELETE" }));
  },
}));

/** The newest download of a repo, for showing progress on its card. */
export function latestDownloadFor(downloads: Record<string, Download>, repoId: string): Download | null {
  const matching = Object.values(downloads).filter((d) => d.repo_id === repoId);
  const active = matching.find((d) => d.status === "queued" || d.status === "running");
  return active ?? matching[matching.length - 1] ?? null;
}
