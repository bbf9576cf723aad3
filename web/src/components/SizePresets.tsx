// Size presets as chips, each with its aspect ratio drawn as a small frame.

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

/** Presets around the model's usual size: 512 for SD 1.x/2.x, 1024 for SDXL-class models. */
export function presetsFor(model: string | null, maxSize = 2048, minSize = 64): SizePreset[] {
  const base = model && /xl|sd3|flux|1024/i.test(model) ? 1024 : 512;
  const presets: SizePreset[] = [{ label: "Native", width: null, height: null }];
  for (const [label, rw, rh] of RATIOS) {
    const scale = Math.sqrt((base * base) / (rw * rh));
    const fit = (v: number) => Math.min(maxSize, Math.max(minSize, Math.round((v * scale) / 64) * 64));
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
  width: number | null;
  height: number | null;
  onChange: (width: number | null, height: number | null) => void;
}

export function SizePresets({ presets, width, height, onChange }: Props) {
  return (
    <div className="chips" role="radiogroup" aria-label="Image size">
      {presets.map((p) => {
        const selected = p.width === width && p.height === height;
        const size = p.width ? `${p.width}×${p.height}` : "model default";
        return (
          <button
            key={p.label}
            type="button"
            role="radio"
            aria-checked={selected}
            className={`chip${selected ? " selected" : ""}`}
            title={size}
            aria-label={`${p.label} (${size})`}
            onClick={() => onChange(p.width, p.height)}
          >
            <RatioFrame width={p.width} height={p.height} />
            {p.label}
          </button>
        );
      })}
    </div>
  );
}
