// Whether the server can be reached: the browser's own network state, and what the last
// request found. Offline, the app shows one banner, keeps the last data on screen and
// disables what needs the server.

import { create } from "zustand";

interface ServerState {
  /** The browser says it has a network (navigator.onLine). */
  browserOnline: boolean;
  /** The last request got an answer (any status); null before the first one. */
  reachable: boolean | null;
  setBrowserOnline: (online: boolean) => void;
  setReachable: (reachable: boolean) => void;
}

export const useServer = create<ServerState>((set, get) => ({
  browserOnline: typeof navigator === "undefined" ? true : navigator.onLine,
  reachable: null,
  setBrowserOnline: (browserOnline) => set({ browserOnline }),
  setReachable: (reachable) => {
    if (get().reachable !== reachable) set({ reachable });
  },
}));

export const isOffline = (s: Pick<ServerState, "browserOnline" | "reachable">): boolean =>
  !s.browserOnline || s.reachable === false;

/** True while the server cannot be reached: controls that need it are disabled. */
export const useOffline = (): boolean => useServer(isOffline);
