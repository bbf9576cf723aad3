import { create } from "zustand";

import { ApiError, isUnreachable } from "../api/client";

export type ToastKind = "error" | "success" | "info";

export interface Toast {
  id: number;
  kind: ToastKind;
  title: string;
  message?: string;
}

interface ToastState {
  toasts: Toast[];
  push: (toast: Omit<Toast, "id">, timeoutMs?: number) => number;
  dismiss: (id: number) => void;
}

let nextId = 1;

export const useToasts = create<ToastState>((set, get) => ({
  toasts: [],
  push: (toast, timeoutMs) => {
    const id = nextId++;
    // the same error repeated (a polling loop) shows once
    const duplicate = get().toasts.find(
      (t) => t.kind === toast.kind && t.title === toast.title && t.message === toast.message,
    );
    if (duplicate) return duplicate.id;
    set((s) => ({ toasts: [...s.toasts.slice(-4), { ...toast, id }] }));
    const ttl = timeoutMs ?? (toast.kind === "error" ? 8000 : 4000);
    if (ttl > 0) setTimeout(() => get().dismiss(id), ttl);
    return id;
  },
  dismiss: (id) => set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) })),
}));

/**
 * Shows an API failure in words: what was being done, then the server's message. A server
 * that cannot be reached is left to the offline banner (one message, not one per request).
 */
export function reportError(what: string, err: unknown): void {
  if (err instanceof DOMException && err.name === "AbortError") return;
  if (isUnreachable(err)) return;
  const message =
    err instanceof ApiError ? err.message : err instanceof Error ? err.message : String(err);
  useToasts.getState().push({ kind: "error", title: what, message });
}

export function notify(title: string, message?: string): void {
  useToasts.getState().push({ kind: "success", title, message });
}
