import type { InputImage } from "../api/types";
import { useCatalog } from "../stores/catalog";
import { type ControlUnitForm, PREPROCESSORS, type PreprocessorName } from "../stores/studio";
import { AuthImage } from "./AuthImage";
import { NumberSlider } from "./NumberSlider";
import { StartImage } from "./StartImage";

const MAX_UNITS = 4;
const PREPROCESSOR_LABELS: Record<PreprocessorName, string> = {
  canny: "Canny edges",
  lineart: "Line art",
  scribble: "Scribble",
  tile: "Tile (blur)",
  none: "None: already a control map",
};

interface Props {
  units: ControlUnitForm[];
  onChange: (units: ControlUnitForm[]) => void;
  /** The model's family: only ControlNets made for it are offered. */
  family: string | null;
  startImage: InputImage | null;
  size: { width: number; height: number } | null;
  disabled?: boolean;
}

/** ControlNet units: each a ControlNet, the picture it follows (its own or the start
 * picture), a preprocessor with its preview, a weight and a step range. */
export function ControlNetUnits({ units, onChange, family, startImage, size, disabled }: Props) {
  const fitting = useCatalog((s) => s.controlnets).filter((c) => !family || c.family === family);
  const change = (index: number, patch: Partial<ControlUnitForm>) =>
    onChange(units.map((unit, i) => (i === index ? { ...unit, ...patch } : unit)));
  const add = () =>
    onChange([
      ...units,
      { model: fitting[0].id, image: null, preprocessor: "canny", weight: 1, guidance_start: 0, guidance_end: 1 },
    ]);

  if (fitting.length === 0 && units.length === 0) {
    return <p className="hint small">No ControlNet for this model is installed (Models → Hub).</p>;
  }
  return (
    <div className="controlnet-units">
      {units.map((unit, index) => {
        const picture = unit.image ?? startImage;
        const preview = picture
          ? `/api/v1/controlnet/preprocess?image=${picture.id}&preprocessor=${unit.preprocessor}` +
            (size ? `&width=${size.width}&height=${size.height}` : "")
          : null;
        return (
          <fieldset key={index} className="controlnet-unit" aria-label={`ControlNet ${index + 1}`}>
            <legend>ControlNet {index + 1}</legend>
            <label className="label" htmlFor={`cn-model-${index}`}>
              Model
            </label>
            <select id={`cn-model-${index}`} value={unit.model} disabled={disabled} onChange={(e) => change(index, { model: e.target.value })}>
              {!fitting.some((c) => c.id === unit.model) && <option value={unit.model}>{unit.model}</option>}
              {fitting.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.id}
                </option>
              ))}
            </select>
            <label className="label" htmlFor={`cn-pre-${index}`}>
              Preprocessor
            </label>
            <select
              id={`cn-pre-${index}`}
              value={unit.preprocessor}
              disabled={disabled}
              onChange={(e) => change(index, { preprocessor: e.target.value as PreprocessorName })}
            >
              {PREPROCESSORS.map((name) => (
                <option key={name} value={name}>
                  {PREPROCESSOR_LABELS[name]}
                </option>
              ))}
            </select>
            <span className="label">
              Its picture <span className="hint">{unit.image ? "" : startImage ? "the start picture, unless you choose one" : "choose one, or a start picture"}</span>
            </span>
            <StartImage
              value={unit.image}
              onChange={(image) => change(index, { image })}
              disabled={disabled}
              label={`ControlNet ${index + 1} picture`}
            />
            {preview && (
              <figure className="controlnet-preview">
                <AuthImage src={preview} alt={`ControlNet ${index + 1} control map`} />
                <figcaption className="hint small">what the ControlNet follows</figcaption>
              </figure>
            )}
            <NumberSlider name={`ControlNet ${index + 1}`} label="Weight" hint="how strongly it guides" min={0} max={2} step={0.05} value={unit.weight} onChange={(weight) => change(index, { weight })} />
            <NumberSlider
              name={`ControlNet ${index + 1}`}
              label="Start"
              hint="fraction of the steps"
              min={0}
              max={0.95}
              step={0.05}
              value={unit.guidance_start}
              onChange={(guidance_start) => change(index, { guidance_start: Math.min(guidance_start, unit.guidance_end - 0.05) })}
            />
            <NumberSlider
              name={`ControlNet ${index + 1}`}
              label="End"
              hint="fraction of the steps"
              min={0.05}
              max={1}
              step={0.05}
              value={unit.guidance_end}
              onChange={(guidance_end) => change(index, { guidance_end: Math.max(guidance_end, unit.guidance_start + 0.05) })}
            />
            <button type="button" className="btn small" disabled={disabled} onClick={() => onChange(units.filter((_, i) => i !== index))}>
              Remove ControlNet {index + 1}
            </button>
          </fieldset>
        );
      })}
      {units.length < MAX_UNITS && fitting.length > 0 && (
        <button type="button" className="btn small" onClick={add} disabled={disabled}>
          Add a ControlNet
        </button>
      )}
    </div>
  );
}
