import { create } from "zustand";

interface ViewerState {
  jobId: string | null;
  index: number;
  open: (jobId: string, index?: number) => void;
  close: () => void;
}

export const useViewer = create<ViewerState>((set) => ({
  jobId: null,
  index: 0,
  open: (jobId, index = 0) => set({ jobId, index }),
  close: () => set({ jobId: null, index: 0 }),
}));
