import { useEffect, useId, useState } from "react";

interface Props {
  label: string;
  /** NaN while the number field holds no number. */
  value: number;
  min: number;
  max: number;
  step: number;
  onChange: (value: number) => void;
  /** Why the value cannot be used, shown beside the field (and announced with it). */
  error?: string | null;
  /** Shown after the label, e.g. the meaning of the value. */
  hint?: string;
  /** Accessible name prefix when several sliders share a label (e.g. one per LoRA). */
  name?: string;
}

const clamp = (v: number, min: number, max: number) => Math.min(max, Math.max(min, v));

/** What the number field holds, as the value it stands for: NaN for no number. */
export const parseNumber = (raw: string): number => (raw.trim() === "" ? Number.NaN : Number(raw));

/**
 * A range slider paired with a number field; both edit the same value. What is typed is
 * kept as typed: a value out of range stays, and the parent's `error` says why it cannot
 * be used.
 */
export function NumberSlider({ label, value, min, max, step, onChange, error, hint, name }: Props) {
  const id = useId();
  const [text, setText] = useState(Number.isFinite(value) ? String(value) : "");
  // follow changes from elsewhere (the slider, a loaded request), not the field's own edits
  useEffect(() => {
    setText((current) => (Object.is(parseNumber(current), value) ? current : Number.isFinite(value) ? String(value) : ""));
  }, [value]);

  const accessible = name ? `${name} ${label.toLowerCase()}` : label;
  const errorId = `${id}-error`;
  const shown = Number.isFinite(value) ? clamp(value, min, max) : min;
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
          value={shown}
          aria-label={accessible}
          style={{ "--fill": `${((shown - min) / (max - min)) * 100}%` } as React.CSSProperties}
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
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? errorId : undefined}
          onChange={(e) => {
            setText(e.target.value);
            onChange(parseNumber(e.target.value));
          }}
          onKeyDown={(e) => {
            // Enter confirms the number; it does not submit the surrounding form
            if (e.key === "Enter" && !e.ctrlKey && !e.metaKey) e.preventDefault();
          }}
        />
      </div>
      {error && (
        <p className="field-error" id={errorId}>
          {error}
        </p>
      )}
    </div>
  );
}
