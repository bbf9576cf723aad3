import type { Progress } from "../api/types";
import { progressFraction, progressText } from "../lib/format";

export function ProgressBar({ progress, label = "Generation progress" }: { progress: Progress | null; label?: string }) {
  const fraction = progressFraction(progress);
  const text = progressText(progress);
  return (
    <div className="progress">
      <div
        className="progress-track"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={progress?.total_steps ?? 1}
        aria-valuenow={progress?.step ?? 0}
        aria-valuetext={text}
      >
        <div className="progress-fill" style={{ width: `${fraction * 100}%` }} />
      </div>
      <div className="progress-text" aria-live="polite">
        {text}
      </div>
    </div>
  );
}
