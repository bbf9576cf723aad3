import { useId, useState } from "react";

import { checkNumber, LORA_WEIGHT } from "../lib/validation";
import type { Lora } from "../api/types";
import { useCatalog } from "../stores/catalog";
import { useStudio } from "../stores/studio";
import { Icon } from "./Icon";
import { NumberSlider } from "./NumberSlider";

const MAX_LORAS = 8;

/** The LoRAs of the next job: pick from the library, weight −2…2, remove, insert trigger words. */
export function LoraMixer() {
  const selectId = useId();
  const loras = useCatalog((s) => s.loras);
  const lorasState = useCatalog((s) => s.lorasState);
  const mix = useStudio((s) => s.form.loras);
  const setLora = useStudio((s) => s.setLora);
  const removeLora = useStudio((s) => s.removeLora);
  const insertInPrompt = useStudio((s) => s.insertInPrompt);
  const chosenModel = useStudio((s) => s.form.model);
  const defaultModel = useCatalog((s) => s.config?.default_model ?? null);
  const modelId = chosenModel ?? defaultModel;
  const fitsModel = (lora: Lora | undefined) => !lora || !modelId || lora.fits.includes(modelId);
  const [choice, setChoice] = useState("");

  const available = loras.filter((l) => !mix.some((m) => m.name === l.name));
  const add = () => {
    const lora = loras.find((l) => l.name === choice);
    if (!lora) return;
    setLora(lora.name, lora.default_weight ?? 1);
    setChoice("");
  };

  return (
    <fieldset className="lora-mixer">
      <legend>LoRAs</legend>
      {lorasState === "unavailable" && <p className="muted small">The LoRA library is not available on this server.</p>}
      {mix.length > 0 && (
        <ul className="lora-rows">
          {mix.map((entry) => {
            const info = loras.find((l) => l.name === entry.name);
            return (
              <li key={entry.name} className="lora-row">
                <div className="lora-row-head">
                  <span className="lora-name" title={entry.name}>
                    {info?.title || entry.name}
                  </span>
                  <button
                    type="button"
                    className="icon-btn"
                    aria-label={`Remove LoRA ${entry.name}`}
                    onClick={() => removeLora(entry.name)}
                  >
                    <Icon name="close" size={16} />
                  </button>
                </div>
                <NumberSlider
                  label="Weight"
                  name={entry.name}
                  min={-2}
                  max={2}
                  step={0.05}
                  value={entry.weight}
                  error={checkNumber(entry.weight, LORA_WEIGHT)}
                  onChange={(weight) => setLora(entry.name, weight)}
                />
                {!fitsModel(info) && (
                  <p className="warn-text small">
                    Does not fit {modelId}: the server will refuse a job with it.
                  </p>
                )}
                {info && info.trigger_words.length > 0 && (
                  <div className="chips small" role="group" aria-label={`Trigger words of ${entry.name}`}>
                    {info.trigger_words.map((word) => (
                      <button
                        key={word}
                        type="button"
                        className="chip"
                        aria-label={`Insert trigger word "${word}" in the prompt`}
                        onClick={() => insertInPrompt(word)}
                      >
                        <Icon name="plus" size={14} /> {word}
                      </button>
                    ))}
                  </div>
                )}
              </li>
            );
          })}
        </ul>
      )}
      {lorasState !== "unavailable" && (
        <div className="row">
          <label htmlFor={selectId} className="visually-hidden">
            LoRA to add
          </label>
          <select
            id={selectId}
            value={choice}
            onChange={(e) => setChoice(e.target.value)}
            disabled={available.length === 0 || mix.length >= MAX_LORAS}
          >
            <option value="">
              {loras.length === 0 ? "No LoRAs in the library" : available.length === 0 ? "All LoRAs added" : "Choose a LoRA…"}
            </option>
            {available.map((l) => (
              <option key={l.name} value={l.name}>
                {l.title || l.name}
                {l.base_model ? ` · ${l.base_model}` : ""}
                {fitsModel(l) ? "" : " · does not fit this model"}
              </option>
            ))}
          </select>
          <button type="button" className="btn" onClick={add} disabled={!choice}>
            <Icon name="plus" /> Add
          </button>
        </div>
      )}
    </fieldset>
  );
}
