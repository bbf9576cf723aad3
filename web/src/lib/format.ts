import type { Progress } from "../api/types";

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return `${m} min ${s.toString().padStart(2, "0")} s`;
}

/** "step 12 / 20 · 3.1 s left" */
export function progressText(progress: Progress | null): string {
  if (!progress) return "starting…";
  const parts = [`step ${progress.step} / ${progress.total_steps}`];
  if (progress.eta_s !== null && progress.eta_s !== undefined && progress.step < progress.total_steps) {
    parts.push(`${formatSeconds(Math.max(0, progress.eta_s))} left`);
  } else if (progress.step >= progress.total_steps) {
    parts.push("decoding");
  }
  return parts.join(" · ");
}

export function progressFraction(progress: Progress | null): number {
  if (!progress || progress.total_steps <= 0) return 0;
  return Math.min(1, Math.max(0, progress.step / progress.total_steps));
}

export function timeAgo(unixSeconds: number, now: number = Date.now() / 1000): string {
  const d = Math.max(0, now - unixSeconds);
  if (d < 10) return "just now";
  if (d < 60) return `${Math.floor(d)} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return new Date(unixSeconds * 1000).toLocaleDateString();
}

export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined) return "–";
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(1)}M`;
  if (n >= 1_000) return `${(n / 1_000).toFixed(1)}k`;
  return String(n);
}

export function percent(part: number, whole: number): number {
  if (!whole) return 0;
  return Math.min(100, Math.max(0, (part / whole) * 100));
}
