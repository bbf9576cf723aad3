// A five-view app needs no router library: the path picks the view, history does the rest.

import { create } from "zustand";

export const VIEWS = ["studio", "queue", "loras", "models", "cluster"] as const;
export type View = (typeof VIEWS)[number];

export function viewFromPath(pathname: string): View {
  const first = pathname.split("/").filter(Boolean)[0] ?? "studio";
  return (VIEWS as readonly string[]).includes(first) ? (first as View) : "studio";
}

interface RouteState {
  view: View;
  navigate: (view: View) => void;
}

export const useRoute = create<RouteState>((set) => ({
  view: typeof window === "undefined" ? "studio" : viewFromPath(window.location.pathname),
  navigate: (view) => {
    const path = view === "studio" ? "/" : `/${view}`;
    if (window.location.pathname !== path) window.history.pushState({}, "", path);
    set({ view });
  },
}));

if (typeof window !== "undefined") {
  window.addEventListener("popstate", () => useRoute.setState({ view: viewFromPath(window.location.pathname) }));
}
