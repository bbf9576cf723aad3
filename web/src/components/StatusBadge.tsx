import type { JobStatus } from "../api/types";

export function StatusBadge({ status }: { status: JobStatus | string }) {
  return <span className={`badge status-${status}`}>{status}</span>;
}
