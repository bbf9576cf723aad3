import { create } from "zustand";

export const API_KEY_STORAGE = "novagenia.apiKey";

function readStoredKey(): string | null {
  try {
    return localStorage.getItem(API_KEY_STORAGE);
  } catch {
    return null;
  }
}

interface AuthState {
  apiKey: string | null;
  /** The key dialog is open (the server asked for a key). */
  prompting: boolean;
  /** The stored key was refused by the server. */
  rejected: boolean;
  /** Bumped whenever the key changes, so data and the WebSocket reload with it. */
  generation: number;
  requireKey: (rejected: boolean) => void;
  setKey: (key: string) => void;
  dismiss: () => void;
}

export const useAuth = create<AuthState>((set, get) => ({
  apiKey: readStoredKey(),
  prompting: false,
  rejected: false,
  generation: 0,
  requireKey: (rejected) => {
    if (get().prompting) return;
    set({ prompting: true, rejected });
  },
  setKey: (key) => {
    const trimmed = key.trim();
    try {
      if (trimmed) localStorage.setItem(API_KEY_STORAGE, trimmed);
      else localStorage.removeItem(API_KEY_STORAGE);
    } catch {
      // storage may be unavailable (private mode): the key then lives for this tab only
    }
    set((s) => ({ apiKey: trimmed || null, prompting: false, rejected: false, generation: s.generation + 1 }));
  },
  dismiss: () => set({ prompting: false }),
}));
