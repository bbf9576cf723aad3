// Size presets as chips, each with its aspect ratio drawn as a small frame.

import { RadioChips } from "./RadioChips";

export interface SizePreset {
  label: string;
  width: number | null;
  height: number | null;
}

const RATIOS: [string, number, number][] = [
  ["1:1", 1, 1],
  ["3:4", 3, 4],
  ["4:3", 4, 3],
  ["2:3", 2, 3],
  ["3:2", 3, 2],
  ["9:16", 9, 16],
  ["16:9", 16, 9],
];

/**
 * Presets with the area of the model's native size (512 for SD 1.x, 1024 for SDXL…), on
 * a 64-pixel grid (8 for small models), within the server's limits.
 */
export function presetsFor(nativeSize: number | undefined, maxSize = 2048, minSize = 64): SizePreset[] {
  const base = nativeSize && nativeSize > 0 ? nativeSize : 512;
  const grid = base >= 512 ? 64 : 8;
  const presets: SizePreset[] = [{ label: "Native", width: null, height: null }];
  for (const [label, rw, rh] of RATIOS) {
    const scale = Math.sqrt((base * base) / (rw * rh));
    const fit = (v: number) => Math.min(maxSize, Math.max(minSize, Math.round((v * scale) / grid) * grid));
    presets.push({ label, width: fit(rw), height: fit(rh) });
  }
  return presets;
}

function RatioFrame({ width, height }: { width: number | null; height: number | null }) {
  const w = width ?? 1;
  const h = height ?? 1;
  const k = 14 / Math.max(w, h);
  return (
    <svg className="ratio" width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">
      <rect
        x={8 - (w * k) / 2}
        y={8 - (h * k) / 2}
        width={w * k}
        height={h * k}
        rx="1.5"
        fill="none"
        stroke="currentColor"
        strokeWidth="1.5"
        strokeDasharray={width === null ? "2 1.5" : undefined}
      />
    </svg>
  );
}

interface Props {
  presets: SizePreset[];
  /** Shown on the "Native" chip, e.g. 512. */
  nativeSize?: number;
  width: number | null;
  height: number | null;
  onChange: (width: number | null, height: number | null) => void;
}

/** The presets as one radio group (one Tab stop, arrow keys); none is checked for a size typed by hand. */
export function SizePresets({ presets, nativeSize, width, height, onChange }: Props) {
  const checked = presets.find((p) => p.width === width && p.height === height)?.label ?? null;
  return (
    <RadioChips
      label="Image size"
      checked={checked}
      onSelect={(label) => {
        const preset = presets.find((p) => p.label === label);
        if (preset) onChange(preset.width, preset.height);
      }}
      options={presets.map((p) => {
        const size = p.width ? `${p.width}×${p.height}` : nativeSize ? `${nativeSize}×${nativeSize}, the model's own` : "the model's own size";
        return {
          key: p.label,
          title: size,
          ariaLabel: `${p.label} (${size})`,
          content: (
            <>
              <RatioFrame width={p.width} height={p.height} />
              {p.label}
            </>
          ),
        };
      })}
    />
  );
}
