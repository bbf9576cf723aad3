import { useCallback, useEffect, useId, useLayoutEffect, useRef, useState } from "react";

import { AuthImage } from "../components/AuthImage";
import { Icon } from "../components/Icon";
import { LoraMixer } from "../components/LoraMixer";
import { NumberSlider, parseNumber } from "../components/NumberSlider";
import { ProgressBar } from "../components/ProgressBar";
import { RadioChips } from "../components/RadioChips";
import { presetsFor, SizePresets } from "../components/SizePresets";
import { ControlNetUnits } from "../components/ControlNetUnits";
import { MaskPainter } from "../components/MaskPainter";
import { StartImage } from "../components/StartImage";
import { StatusBadge } from "../components/StatusBadge";
import { isUnreachable } from "../api/client";
import { formatSeconds } from "../lib/format";
import { fieldLabel, type FormField, formLimits, validateForm } from "../lib/validation";
import { samplerLabel, samplersFor, useCatalog } from "../stores/catalog";
import { lorasText } from "../lib/params";
import { useJobs } from "../stores/jobs";
import { isOffline, useOffline, useServer } from "../stores/server";
import { familyDefaults, type HiresUpscaler, isRandomSeed, MAX_SEED, type Speed, toRequest, useStudio } from "../stores/studio";
import { reportError } from "../stores/toasts";
import { useViewer } from "../stores/viewer";

/** A textarea that grows with its content. */
function GrowingTextarea(props: React.TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const ref = useRef<HTMLTextAreaElement>(null);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || el.scrollHeight === 0) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight + 2, 320)}px`;
  }, [props.value]);
  return <textarea ref={ref} rows={2} {...props} />;
}

/** A number input's text for a form value: empty for none (null, NaN). */
const SPEEDS = [
  { key: "quality", content: "Quality", title: "Every step computed in full" },
  { key: "fast", content: "Fast", title: "Step caching: attention reused in the middle of the schedule, about a tenth faster" },
];

const HIRES_UPSCALERS = [
  { key: "lanczos", content: "Lanczos", title: "The decoded picture is upscaled" },
  { key: "latent", content: "Latent", title: "The latents are upscaled, before any decoding" },
];

const numberText = (value: number | null) => (value !== null && Number.isFinite(value) ? value : "");

/** aria-invalid and aria-describedby for a field with `error`; its message has id `${id}-error`. */
const invalidProps = (id: string, error: string | undefined) =>
  error ? { "aria-invalid": true as const, "aria-describedby": `${id}-error` } : {};

function FieldError({ id, error }: { id: string; error: string | undefined }) {
  return error ? (
    <p className="field-error" id={`${id}-error`}>
      {error}
    </p>
  ) : null;
}

const isMac = typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform);

/** One job of this session, small: its progress while it runs, its pictures once made. */
function SessionJob({ jobId, shown }: { jobId: string; shown: boolean }) {
  const job = useJobs((s) => s.jobs[jobId]);
  const show = useStudio((s) => s.show);
  if (!job) return null;
  const prompt = job.request.prompt;
  const image = job.status === "succeeded" ? job.images[0] : undefined;
  return (
    <li className={`session-job${shown ? " shown" : ""}`} data-testid="session-job" data-job-id={job.id}>
      <button type="button" aria-pressed={shown} aria-label={`Show "${prompt.slice(0, 60)}" on the canvas`} onClick={() => show(job.id)}>
        {image ? (
          <AuthImage src={image.url} alt="" width={image.width} height={image.height} loading="lazy" />
        ) : (
          <span className="session-thumb" aria-hidden="true" />
        )}
        <span className="session-text">
          <span className="job-prompt">{prompt}</span>
          <StatusBadge status={job.status} />
          {image && job.images.length > 1 && <span className="muted small"> ×{job.images.length}</span>}
        </span>
      </button>
      {job.status === "running" && <ProgressBar progress={job.progress} label={`Progress of "${prompt.slice(0, 40)}"`} />}
      {job.status === "queued" && (
        <p className="muted small">{job.position === 0 ? "runs next" : job.position != null ? `${job.position} ahead` : "waiting"}</p>
      )}
      {job.status === "failed" && <p className="error-text small clamp2">{job.error ?? "The job failed."}</p>}
    </li>
  );
}

/** Every job started from the Studio since the page loaded, newest first. */
function SessionJobs() {
  const ids = useStudio((s) => s.sessionJobIds);
  const activeJobId = useStudio((s) => s.activeJobId);
  if (ids.length < 2) return null;
  return (
    <section className="session-jobs" aria-labelledby="session-jobs-title">
      <h2 id="session-jobs-title" className="small">
        This session <span className="count">{ids.length}</span>
      </h2>
      <ul aria-label="Jobs of this session, newest first">
        {ids.map((id) => (
          <SessionJob key={id} jobId={id} shown={id === activeJobId} />
        ))}
      </ul>
    </section>
  );
}

function Canvas() {
  const activeJobId = useStudio((s) => s.activeJobId);
  const job = useJobs((s) => (activeJobId ? s.jobs[activeJobId] : undefined));
  const preview = useJobs((s) => (activeJobId ? s.previews[activeJobId] : undefined));
  const cancel = useJobs((s) => s.cancel);
  const offline = useOffline();
  const setLastSeed = useStudio((s) => s.setLastSeed);
  const openViewer = useViewer((s) => s.open);
  const samplers = useCatalog((s) => s.samplers);

  useEffect(() => {
    if (job?.status === "succeeded" && job.images.length > 0) setLastSeed(job.images[0].seed);
  }, [job?.status, job?.images, setLastSeed]);

  if (!job) {
    return (
      <section className="canvas" aria-label="Canvas">
        <div className="empty-canvas">
          <Icon name="sparkle" size={40} />
          <p>Describe a picture, then Generate.</p>
        </div>
        <SessionJobs />
      </section>
    );
  }

  const active = job.status === "queued" || job.status === "running";
  const duration = job.started_at && job.finished_at ? job.finished_at - job.started_at : null;
  const doCancel = () => cancel(job.id).catch((err) => reportError("Could not cancel the job", err));

  return (
    <section className="canvas" aria-label="Canvas" aria-busy={active}>
      {active && (
        <div className="canvas-status">
          {job.status === "queued" ? (
            <p className="queued-note">
              <StatusBadge status="queued" />{" "}
              {job.position === 0 ? "runs next" : job.position != null ? `${job.position} ahead` : "waiting"}
            </p>
          ) : (
            <ProgressBar progress={job.progress} />
          )}
          <button type="button" className="btn danger" onClick={doCancel} disabled={offline || job.cancel_requested}>
            <Icon name="stop" /> {job.cancel_requested ? "Cancelling…" : "Cancel"}
          </button>
        </div>
      )}
      <div className="canvas-stage">
        {job.status === "succeeded" && job.images.length > 0 ? (
          <div className={`results n${Math.min(job.images.length, 4)}`}>
            {job.images.map((img) => (
              <button
                key={img.index}
                type="button"
                className="result"
                aria-label={`Open image ${img.index + 1} (seed ${img.seed})`}
                onClick={() => openViewer(job.id, img.index)}
              >
                <AuthImage
                  src={img.url}
                  alt={`Result ${img.index + 1}: ${job.request.prompt}`}
                  width={img.width}
                  height={img.height}
                  data-testid="result-image"
                />
              </button>
            ))}
          </div>
        ) : preview && active ? (
          <img
            className="preview"
            src={preview.image}
            alt={`Preview at step ${preview.step}`}
            data-testid="preview-image"
            style={{ aspectRatio: `${job.request.width ?? 1} / ${job.request.height ?? 1}` }}
          />
        ) : (
          <div className="empty-canvas">
            {job.status === "failed" ? (
              <>
                <StatusBadge status="failed" />
                <p className="error-text">{job.error ?? "The job failed."}</p>
              </>
            ) : job.status === "cancelled" || job.status === "expired" ? (
              <>
                <StatusBadge status={job.status} />
                <p>{job.error ?? "Cancelled."}</p>
              </>
            ) : (
              <div className="spinner" aria-label="Waiting for the first preview" role="img" />
            )}
          </div>
        )}
      </div>
      {job.status === "succeeded" && (
        <p className="result-meta" data-testid="result-meta">
          <StatusBadge status="succeeded" /> {job.model} · {samplerLabel(job.request.sampler, samplers)} · {job.request.steps} steps · CFG{" "}
          {job.request.guidance_scale} · seed {job.images.map((i) => i.seed).join(", ")}
          {job.images[0] ? ` · ${job.images[0].width}×${job.images[0].height}` : ""}
          {job.request.loras.length > 0 ? ` · LoRAs ${lorasText(job.request.loras)}` : ""}
          {duration !== null ? ` · ${formatSeconds(duration)}` : ""}
        </p>
      )}
      <SessionJobs />
    </section>
  );
}

export function Studio() {
  const ids = { prompt: useId(), negative: useId(), model: useId(), sampler: useId(), seed: useId(), batch: useId(), priority: useId(), generateNote: useId(), submitError: useId(), width: useId(), height: useId() };
  const form = useStudio((s) => s.form);
  const update = useStudio((s) => s.update);
  const lastSeed = useStudio((s) => s.lastSeed);
  const setActive = useStudio((s) => s.setActive);
  const config = useCatalog((s) => s.config);
  const models = useCatalog((s) => s.models);
  const samplers = useCatalog((s) => s.samplers);
  const submit = useJobs((s) => s.submit);
  const offline = useOffline();
  const [submitting, setSubmitting] = useState(false);
  const [submitError, setSubmitError] = useState<string | null>(null);
  useEffect(() => setSubmitError(null), [form]);
  const formRef = useRef<HTMLFormElement>(null);

  const limits = formLimits(config);
  const errors = validateForm(form, limits);
  const invalidFields = Object.keys(errors) as FormField[];
  const modelId = form.model ?? config?.default_model ?? null;
  const model = models.find((m) => m.id === modelId);
  const nativeSize = model?.native_size;
  const capabilities = model?.capabilities ?? null;
  const applicable = samplersFor(model, samplers);
  const applicableNames = applicable.map((s) => s.name).join(",");
  const [samplerNote, setSamplerNote] = useState<string | null>(null);

  // a sampler that does not apply to the chosen model is replaced by the model's first, and the form says so
  useEffect(() => {
    const names = applicableNames ? applicableNames.split(",") : [];
    const current = useStudio.getState().form.sampler;
    if (!model || names.length === 0 || names.includes(current)) return;
    const { samplers: known } = useCatalog.getState();
    const preferred = model.capabilities?.default_sampler;
    const chosen = preferred && names.includes(preferred) ? preferred : names[0];
    update({ sampler: chosen });
    setSamplerNote(`${samplerLabel(chosen, known)} chosen: ${samplerLabel(current, known)} does not apply to ${model.id}.`);
  }, [model, applicableNames, form.sampler, update]);
  const presets = presetsFor(nativeSize, config?.limits.max_size, config?.limits.min_size);

  const generate = useCallback(async () => {
    const current = useStudio.getState().form;
    if (isOffline(useServer.getState())) return;
    if (Object.keys(validateForm(current, formLimits(useCatalog.getState().config))).length > 0) {
      formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
      return;
    }
    if (!current.prompt.trim()) {
      setSubmitError("Nothing to generate: write a prompt first.");
      return;
    }
    setSubmitError(null);
    setSubmitting(true);
    try {
      const { config: latest, models: installed } = useCatalog.getState();
      const chosen = installed.find((m) => m.id === (current.model ?? latest?.default_model));
      const job = await submit(toRequest(current, chosen?.capabilities));
      setActive(job);
    } catch (err) {
      // beside Generate, until the next try or edit; a server out of reach is the banner's
      if (!isUnreachable(err)) setSubmitError(`Could not start the generation: ${(err as Error).message}`);
    } finally {
      setSubmitting(false);
    }
  }, [submit, setActive]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        void generate();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [generate]);

  return (
    <div className="studio">
      <Canvas />
      <form
        ref={formRef}
        className="panel"
        aria-label="Generation settings"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void generate();
        }}
        onKeyDown={(e) => {
          // a plain Enter in a field must not start a generation; Ctrl/Cmd+Enter does (window listener)
          if (e.key === "Enter" && !e.ctrlKey && !e.metaKey && (e.target as HTMLElement).tagName === "INPUT") e.preventDefault();
        }}
      >
        <div className="panel-scroll">
          <div className="field">
            <label htmlFor={ids.prompt}>Prompt</label>
            <GrowingTextarea
              id={ids.prompt}
              value={form.prompt}
              placeholder="a red circle on a blue background"
              maxLength={4000}
              onChange={(e) => update({ prompt: e.target.value })}
            />
          </div>
          <div className="field">
            <label htmlFor={ids.negative}>Negative prompt</label>
            <GrowingTextarea
              id={ids.negative}
              value={form.negative_prompt}
              placeholder={capabilities && !capabilities.negative_prompt ? "not used by this model" : "what to avoid"}
              maxLength={4000}
              disabled={!!capabilities && !capabilities.negative_prompt}
              aria-describedby={capabilities && !capabilities.negative_prompt ? `${ids.negative}-note` : undefined}
              onChange={(e) => update({ negative_prompt: e.target.value })}
            />
            {capabilities && !capabilities.negative_prompt && (
              <p className="hint small" id={`${ids.negative}-note`}>
                {capabilities.family_label} has no classifier-free guidance, so a negative prompt does not apply.
              </p>
            )}
          </div>
          <div className="field">
            <label htmlFor={ids.model}>Model</label>
            <select
              id={ids.model}
              value={form.model ?? ""}
              onChange={(e) => {
                setSamplerNote(null);
                const chosen = e.target.value || null;
                const next = models.find((m) => m.id === (chosen ?? config?.default_model))?.capabilities;
                // another family starts from its own sampler, steps and guidance, and the form says so
                if (next && next.family !== capabilities?.family) {
                  update({ model: chosen, ...familyDefaults(next) });
                  setSamplerNote(`${next.family_label} settings: ${samplerLabel(next.default_sampler, samplers)}, ${next.default_steps} steps, guidance ${next.default_guidance}.`);
                } else {
                  update({ model: chosen });
                }
              }}
            >
              <option value="">Default{config ? ` (${config.default_model})` : ""}</option>
              {models
                .filter((m) => m.id !== config?.default_model || form.model === m.id)
                .map((m) => (
                  <option key={m.id} value={m.id}>
                    {m.id}
                  </option>
                ))}
              {form.model && !models.some((m) => m.id === form.model) && <option value={form.model}>{form.model}</option>}
            </select>
          </div>
          <div className="grid2">
            <div className="field">
              <label htmlFor={ids.sampler}>Sampler</label>
              <select
                id={ids.sampler}
                value={form.sampler}
                aria-describedby={samplerNote ? `${ids.sampler}-note` : undefined}
                onChange={(e) => {
                  setSamplerNote(null);
                  update({ sampler: e.target.value });
                }}
              >
                {!applicable.some((s) => s.name === form.sampler) && <option value={form.sampler}>{samplerLabel(form.sampler, samplers)}</option>}
                {applicable.map((s) => (
                  <option key={s.name} value={s.name}>
                    {s.label}
                  </option>
                ))}
              </select>
              {samplerNote && (
                <p className="hint small" id={`${ids.sampler}-note`} role="status">
                  {samplerNote}
                </p>
              )}
            </div>
            <div className="field">
              <label htmlFor={ids.batch}>Batch size</label>
              <input
                id={ids.batch}
                type="number"
                min={1}
                max={limits.maxBatch}
                value={numberText(form.batch_size)}
                {...invalidProps(ids.batch, errors.batch_size)}
                onChange={(e) => update({ batch_size: parseNumber(e.target.value) })}
              />
              <FieldError id={ids.batch} error={errors.batch_size} />
            </div>
          </div>
          <NumberSlider label="Steps" min={1} max={limits.maxSteps} step={1} value={form.steps} error={errors.steps} onChange={(steps) => update({ steps })} />
          <div className="field">
            <span className="label">
              Speed <span className="hint">{form.speed === "fast" ? "attention reused between steps" : "every step in full"}</span>
            </span>
            <RadioChips label="Speed" options={SPEEDS} checked={form.speed} onSelect={(speed) => update({ speed: speed as Speed })} />
          </div>
          {capabilities?.image_inputs !== false && (
            <div className="field">
              <span className="label">
                Start from a picture <span className="hint">{form.init_image ? "img2img: redrawn by the strength" : "optional: drop, paste or choose"}</span>
              </span>
              <StartImage value={form.init_image} onChange={(init_image) => update({ init_image, mask: null })} disabled={offline} />
              {form.init_image && (
                <>
                  <NumberSlider label="Strength" hint="how much of it is redrawn" min={0.05} max={1} step={0.05} value={form.strength} onChange={(strength) => update({ strength })} />
                  <span className="label">
                    Inpaint <span className="hint">{form.mask ? "only the painted part is redrawn" : "optional: paint the part to redraw"}</span>
                  </span>
                  <MaskPainter image={form.init_image} onChange={(mask) => update({ mask })} disabled={offline} />
                </>
              )}
            </div>
          )}
          {capabilities?.controlnet !== false && (
            <div className="field">
              <span className="label">
                ControlNet <span className="hint">guide the layout by a picture's edges or lines</span>
              </span>
              <ControlNetUnits
                units={form.controlnet}
                onChange={(controlnet) => update({ controlnet })}
                family={capabilities?.family ?? null}
                startImage={form.init_image}
                size={form.width && form.height ? { width: form.width, height: form.height } : null}
                disabled={offline}
              />
            </div>
          )}
          {capabilities?.tiling !== false && (
            <label className="check">
              <input type="checkbox" checked={form.tiling} onChange={(e) => update({ tiling: e.target.checked })} /> Seamless <span className="hint">the picture tiles</span>
            </label>
          )}
          {capabilities?.image_inputs !== false && (
            <div className="field">
              <label className="check">
                <input type="checkbox" checked={form.hires} onChange={(e) => update({ hires: e.target.checked })} /> Hires fix{" "}
                <span className="hint">a second pass, larger</span>
              </label>
              {form.hires && (
                <>
                  <NumberSlider label="Upscale" hint="× the size" min={1.25} max={4} step={0.25} value={form.hires_scale} onChange={(hires_scale) => update({ hires_scale })} />
                  <NumberSlider label="Hires strength" hint="how much is redrawn" min={0.05} max={1} step={0.05} value={form.hires_strength} onChange={(hires_strength) => update({ hires_strength })} />
                  {capabilities?.latent_upscale !== false && (
                    <RadioChips
                      label="Upscaler"
                      options={HIRES_UPSCALERS}
                      checked={form.hires_upscaler === "lanczos" ? "lanczos" : "latent"}
                      onSelect={(upscaler) => update({ hires_upscaler: upscaler as HiresUpscaler })}
                    />
                  )}
                </>
              )}
            </div>
          )}
          {capabilities?.guidance !== "none" && (
            <NumberSlider
              label={capabilities?.guidance === "distilled" ? "Guidance" : "CFG scale"}
              hint={capabilities?.guidance === "distilled" ? "distilled into the model" : "prompt strength"}
              min={0}
              max={30}
              step={0.5}
              value={form.guidance_scale}
              error={errors.guidance_scale}
              onChange={(guidance_scale) => update({ guidance_scale })}
            />
          )}
          <div className="field">
            <span className="label" id={`${ids.prompt}-size`}>
              Size{" "}
              <span className="hint">{form.width ? `${form.width}×${form.height}` : nativeSize ? `${nativeSize}×${nativeSize} (native)` : "native"}</span>
            </span>
            <SizePresets presets={presets} nativeSize={nativeSize} width={form.width} height={form.height} onChange={(width, height) => update({ width, height })} />
            <div className="grid2 size-inputs">
              {(["width", "height"] as const).map((side) => {
                const other = side === "width" ? "height" : "width";
                const id = side === "width" ? ids.width : ids.height;
                return (
                  <div className="field" key={side}>
                    <label htmlFor={id}>
                      {side === "width" ? "Width" : "Height"} <span className="hint">px</span>
                    </label>
                    <input
                      id={id}
                      type="number"
                      inputMode="numeric"
                      min={limits.minSize}
                      max={limits.maxSize}
                      step={capabilities?.size_multiple ?? 8}
                      placeholder={nativeSize ? String(nativeSize) : "native"}
                      value={numberText(form[side])}
                      {...invalidProps(id, errors[side])}
                      onChange={(e) => {
                        const value = e.target.value === "" ? null : Number(e.target.value);
                        // a size typed by hand is both sides: the other starts from the native size
                        update({ [side]: value, [other]: form[other] ?? (value !== null ? (nativeSize ?? null) : null) });
                      }}
                    />
                    <FieldError id={id} error={errors[side]} />
                  </div>
                );
              })}
            </div>
          </div>
          <div className="field">
            <div className="field-head">
              <label htmlFor={ids.seed}>Seed</label>
              <span className="hint" id={`${ids.seed}-hint`}>
                {isRandomSeed(form.seed) ? "random each run (empty or −1)" : "fixed"}
              </span>
            </div>
            <div className="row">
              <input
                id={ids.seed}
                type="number"
                inputMode="numeric"
                min={-1}
                max={MAX_SEED}
                placeholder="random"
                value={numberText(form.seed)}
                aria-invalid={errors.seed ? true : undefined}
                aria-describedby={errors.seed ? `${ids.seed}-error ${ids.seed}-hint` : `${ids.seed}-hint`}
                onChange={(e) => update({ seed: e.target.value === "" ? null : Number(e.target.value) })}
              />
              <button type="button" className="icon-btn bordered" aria-label="Random seed" title="Random seed" onClick={() => update({ seed: null })}>
                <Icon name="dice" />
              </button>
              <button
                type="button"
                className="icon-btn bordered"
                aria-label={lastSeed !== null ? `Reuse last seed (${lastSeed})` : "Reuse last seed"}
                title="Reuse last seed"
                disabled={lastSeed === null}
                onClick={() => lastSeed !== null && update({ seed: lastSeed })}
              >
                <Icon name="reuse" />
              </button>
            </div>
            <FieldError id={ids.seed} error={errors.seed} />
          </div>
          <div className="field">
            <label htmlFor={ids.priority}>
              Priority <span className="hint">higher runs first</span>
            </label>
            <input
              id={ids.priority}
              type="number"
              min={-1000}
              max={1000}
              value={numberText(form.priority)}
              {...invalidProps(ids.priority, errors.priority)}
              onChange={(e) => update({ priority: parseNumber(e.target.value) })}
            />
            <FieldError id={ids.priority} error={errors.priority} />
          </div>
          <LoraMixer />
        </div>
        <div className="generate-bar">
          {offline ? (
            <p className="muted small generate-note" id={ids.generateNote}>
              Offline: Generate waits for the server.
            </p>
          ) : invalidFields.length > 0 ? (
            <p className="field-error" id={ids.generateNote}>
              Fix {invalidFields.length === 1 ? "this field" : "these fields"} first: {invalidFields.map(fieldLabel).join(", ")}.
            </p>
          ) : null}
          {submitError && (
            <p className="field-error" role="alert" id={ids.submitError} data-testid="submit-error">
              {submitError}
            </p>
          )}
          <button
            type="submit"
            className="btn primary big"
            disabled={submitting || offline || invalidFields.length > 0}
            aria-describedby={
              [offline || invalidFields.length > 0 ? ids.generateNote : null, submitError ? ids.submitError : null].filter(Boolean).join(" ") || undefined
            }
            aria-keyshortcuts="Control+Enter Meta+Enter"
          >
            <Icon name="sparkle" /> {submitting ? "Sending…" : "Generate"}
            <kbd>{isMac ? "⌘" : "Ctrl"}+Enter</kbd>
          </button>
        </div>
      </form>
    </div>
  );
}
