import { useId, useState } from "react";

import { api } from "../api/client";
import type { InputImage } from "../api/types";
import { reportError } from "../stores/toasts";
import { AuthImage } from "./AuthImage";

interface Props {
  value: InputImage | null;
  onChange: (image: InputImage | null) => void;
  disabled?: boolean;
  /** The file input's accessible name. */
  label?: string;
}

/** Uploads one picture (POST /inputs) to start a job from: chosen, dropped or pasted. */
export function StartImage({ value, onChange, disabled, label = "Start image" }: Props) {
  const id = useId();
  const [busy, setBusy] = useState(false);

  const upload = async (file: File | undefined | null) => {
    if (!file) return;
    const form = new FormData();
    form.append("file", file);
    setBusy(true);
    try {
      onChange(await api<InputImage>("/inputs", { method: "POST", body: form }));
    } catch (err) {
      reportError("Could not use this picture", err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div
      className="start-image"
      onDragOver={(e) => e.preventDefault()}
      onDrop={(e) => {
        e.preventDefault();
        void upload(e.dataTransfer.files[0]);
      }}
      onPaste={(e) => void upload(e.clipboardData.files[0])}
    >
      {value ? (
        <div className="start-image-chosen">
          <AuthImage src={value.url} alt={label} className="start-image-thumb" />
          {value.width > 0 && (
            <span className="hint small">
              {value.width}×{value.height}
            </span>
          )}
          <button type="button" className="btn small" onClick={() => onChange(null)}>
            Remove
          </button>
        </div>
      ) : (
        <label htmlFor={id} className="btn small">
          {busy ? "Uploading…" : "Choose a picture"}
        </label>
      )}
      <input
        id={id}
        type="file"
        accept="image/png,image/jpeg,image/webp"
        className="visually-hidden"
        aria-label={label}
        disabled={disabled || busy}
        onChange={(e) => void upload(e.target.files?.[0])}
      />
    </div>
  );
}
