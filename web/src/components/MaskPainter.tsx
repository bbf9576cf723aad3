import { useEffect, useRef, useState } from "react";

import { api } from "../api/client";
import type { InputImage } from "../api/types";
import { reportError } from "../stores/toasts";
import { useImageSrc } from "./AuthImage";
import { NumberSlider } from "./NumberSlider";

interface Props {
  /** The start picture the mask is painted over. */
  image: InputImage;
  onChange: (mask: InputImage | null) => void;
  disabled?: boolean;
}

/** Paint the part of the start picture to redraw (white), with mouse, pen or finger
 * (Pointer Events). The mask is uploaded (POST /inputs) after every stroke. */
export function MaskPainter({ image, onChange, disabled }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const last = useRef<{ x: number; y: number } | null>(null);
  const [brush, setBrush] = useState(Math.max(4, Math.round((image.width || 512) / 12)));
  const [erase, setErase] = useState(false);
  const [painted, setPainted] = useState(false);
  const background = useImageSrc(image.url);
  const width = image.width || 512;
  const height = image.height || 512;

  /** Black all over: nothing to redraw. */
  const blank = () => {
    const context = canvas.current?.getContext("2d");
    if (!context) return;
    context.fillStyle = "black";
    context.fillRect(0, 0, width, height);
    setPainted(false);
  };
  // a new start picture starts a new mask
  useEffect(blank, [image.id, width, height]);

  const point = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    return { x: ((e.clientX - box.left) / box.width) * width, y: ((e.clientY - box.top) / box.height) * height };
  };
  const stroke = (to: { x: number; y: number }) => {
    const context = canvas.current?.getContext("2d");
    if (!context) return;
    const from = last.current ?? to;
    context.strokeStyle = erase ? "black" : "white";
    context.lineWidth = brush;
    context.lineCap = "round";
    context.beginPath();
    context.moveTo(from.x, from.y);
    context.lineTo(to.x, to.y);
    context.stroke();
    last.current = to;
  };
  // uploads can finish out of order: only the latest stroke's mask is kept
  const latest = useRef(0);
  const upload = () => {
    const stroke = ++latest.current;
    canvas.current?.toBlob(async (blob) => {
      if (!blob) return;
      const form = new FormData();
      form.append("file", blob, "mask.png");
      try {
        const mask = await api<InputImage>("/inputs", { method: "POST", body: form });
        if (stroke === latest.current) onChange(mask);
      } catch (err) {
        reportError("Could not use the mask", err);
      }
    }, "image/png");
  };
  const invert = () => {
    const context = canvas.current?.getContext("2d");
    if (!context) return;
    const pixels = context.getImageData(0, 0, width, height);
    for (let i = 0; i < pixels.data.length; i += 4) {
      for (let c = 0; c < 3; c++) pixels.data[i + c] = 255 - pixels.data[i + c];
    }
    context.putImageData(pixels, 0, 0);
    setPainted(true);
    upload();
  };
  const clear = () => {
    latest.current += 1; // an upload still under way must not bring the old mask back
    blank();
    onChange(null);
  };

  return (
    <div className="mask-painter">
      <div className="mask-canvas" style={{ aspectRatio: `${width} / ${height}`, backgroundImage: background ? `url(${background})` : undefined }}>
        <canvas
          ref={canvas}
          width={width}
          height={height}
          aria-label="Mask: paint what to redraw"
          role="img"
          onPointerDown={(e) => {
            if (disabled) return;
            try {
              e.currentTarget.setPointerCapture(e.pointerId); // keep the stroke past the edge
            } catch {
              // a pointer the browser no longer tracks: paint without capturing it
            }
            last.current = null;
            stroke(point(e));
          }}
          onPointerMove={(e) => {
            if (last.current) stroke(point(e));
          }}
          onPointerUp={() => {
            if (!last.current) return;
            last.current = null;
            setPainted(true);
            upload();
          }}
        />
      </div>
      <NumberSlider label="Brush" hint="pixels" min={1} max={Math.max(64, Math.round(width / 4))} step={1} value={brush} onChange={setBrush} />
      <div className="mask-tools">
        <label className="check">
          <input type="checkbox" checked={erase} onChange={(e) => setErase(e.target.checked)} /> Erase
        </label>
        <button type="button" className="btn small" onClick={invert} disabled={disabled}>
          Invert
        </button>
        <button type="button" className="btn small" onClick={clear} disabled={disabled || !painted}>
          Clear mask
        </button>
      </div>
    </div>
  );
}
