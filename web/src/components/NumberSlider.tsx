import { useEffect, useId, useState } from "react";

interface Props {
  label: string;
  value: number;
  min: number;
  max: number;
  step: number;
  onChange: (value: number) => void;
  /** Shown after the label, e.g. the meaning of the value. */
  hint?: string;
  /** Accessible name prefix when several sliders share a label (e.g. one per LoRA). */
  name?: string;
}

const clamp = (v: number, min: number, max: number) => Math.min(max, Math.max(min, v));
const decimals = (step: number) => (String(step).split(".")[1] ?? "").length;

/** A range slider paired with a number field; both edit the same value, clamped and rounded to `step`. */
export function NumberSlider({ label, value, min, max, step, onChange, hint, name }: Props) {
  const id = useId();
  const [text, setText] = useState(String(value));
  useEffect(() => setText(String(value)), [value]);

  const commit = (raw: string) => {
    const parsed = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(parsed)) {
      setText(String(value));
      return;
    }
    const rounded = Number((Math.round(parsed / step) * step).toFixed(decimals(step)));
    const next = clamp(rounded, min, max);
    setText(String(next));
    if (next !== value) onChange(next);
  };

  const accessible = name ? `${name} ${label.toLowerCase()}` : label;
  return (
    <div className="slider-field">
      <div className="field-head">
        <label htmlFor={`${id}-range`}>{label}</label>
        {hint && <span className="hint">{hint}</span>}
      </div>
      <div className="slider-row">
        <input
          id={`${id}-range`}
          type="range"
          min={min}
          max={max}
          step={step}
          value={value}
          aria-label={accessible}
          style={{ "--fill": `${((value - min) / (max - min)) * 100}%` } as React.CSSProperties}
          onChange={(e) => onChange(Number(e.target.value))}
        />
        <input
          className="num"
          type="number"
          inputMode="decimal"
          min={min}
          max={max}
          step={step}
          value={text}
          aria-label={`${accessible} value`}
          onChange={(e) => setText(e.target.value)}
          onBlur={(e) => commit(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.ctrlKey && !e.metaKey) {
              // Enter confirms the number; it does not submit the surrounding form
              e.preventDefault();
              commit((e.target as HTMLInputElement).value);
            }
          }}
        />
      </div>
    </div>
  );
}
