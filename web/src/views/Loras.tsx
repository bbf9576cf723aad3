import { useEffect, useId, useMemo, useRef, useState } from "react";

import { ApiError, isUnreachable } from "../api/client";
import type { Lora } from "../api/types";
import { AuthImage } from "../components/AuthImage";
import { Icon } from "../components/Icon";
import { Modal } from "../components/Modal";
import { Monogram } from "../components/Monogram";
import { NumberSlider } from "../components/NumberSlider";
import { RadioChips } from "../components/RadioChips";
import { formatBytes } from "../lib/format";
import { checkNumber, LORA_WEIGHT } from "../lib/validation";
import { useCatalog } from "../stores/catalog";
import { useOffline } from "../stores/server";
import { useStudio } from "../stores/studio";
import { notify, reportError } from "../stores/toasts";

const splitList = (text: string) =>
  text
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);

export function matchesLora(lora: Lora, query: string, tag: string | null): boolean {
  if (tag && !lora.tags.includes(tag)) return false;
  const q = query.trim().toLowerCase();
  if (!q) return true;
  return [lora.name, lora.title, lora.description, lora.base_model, ...lora.tags, ...lora.trigger_words]
    .some((field) => Boolean(field) && field!.toLowerCase().includes(q));
}

function LoraEditor({ lora, onClose }: { lora: Lora; onClose: () => void }) {
  const updateLora = useCatalog((s) => s.updateLora);
  const deleteLora = useCatalog((s) => s.deleteLora);
  const ids = { title: useId(), description: useId(), tags: useId(), triggers: useId() };
  const [title, setTitle] = useState(lora.title ?? "");
  const [description, setDescription] = useState(lora.description ?? "");
  const [tags, setTags] = useState(lora.tags.join(", "));
  const [triggers, setTriggers] = useState(lora.trigger_words.join(", "));
  const [weight, setWeight] = useState(lora.default_weight ?? 1);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [busy, setBusy] = useState(false);
  const offline = useOffline();
  const weightError = checkNumber(weight, LORA_WEIGHT);

  const save = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    try {
      await updateLora(lora.name, {
        title: title.trim(),
        description: description.trim(),
        tags: splitList(tags),
        trigger_words: splitList(triggers),
        default_weight: weight,
      });
      notify("LoRA saved", lora.name);
      onClose();
    } catch (err) {
      reportError(`Could not save ${lora.name}`, err);
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    if (!confirmDelete) {
      setConfirmDelete(true);
      return;
    }
    setBusy(true);
    try {
      await deleteLora(lora.name);
      notify("LoRA deleted", lora.name);
      onClose();
    } catch (err) {
      reportError(`Could not delete ${lora.name}`, err);
      setBusy(false);
    }
  };

  return (
    <Modal title={`Edit ${lora.name}`} onClose={onClose}>
      <form className="stack" onSubmit={save} noValidate>
        <div className="field">
          <label htmlFor={ids.title}>Title</label>
          <input id={ids.title} value={title} onChange={(e) => setTitle(e.target.value)} data-autofocus />
        </div>
        <div className="field">
          <label htmlFor={ids.description}>Description</label>
          <textarea id={ids.description} rows={3} value={description} onChange={(e) => setDescription(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor={ids.tags}>
            Tags <span className="hint">comma separated</span>
          </label>
          <input id={ids.tags} value={tags} onChange={(e) => setTags(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor={ids.triggers}>
            Trigger words <span className="hint">comma separated</span>
          </label>
          <input id={ids.triggers} value={triggers} onChange={(e) => setTriggers(e.target.value)} />
        </div>
        <NumberSlider label="Default weight" min={-2} max={2} step={0.05} value={weight} error={weightError} onChange={setWeight} />
        <p className="muted small">
          {lora.format} · {formatBytes(lora.size_bytes)}
          {lora.rank ? ` · rank ${lora.rank}` : ""}
          {lora.alpha ? ` · alpha ${lora.alpha}` : ""}
          {lora.base_model ? ` · ${lora.base_model}` : ""}
        </p>
        <div className="row spread">
          <button type="button" className="btn danger" onClick={remove} disabled={busy || offline}>
            <Icon name="trash" /> {confirmDelete ? "Really delete?" : "Delete"}
          </button>
          <div className="row">
            <button type="button" className="btn" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="btn primary" disabled={busy || offline || Boolean(weightError)}>
              Save
            </button>
          </div>
        </div>
      </form>
    </Modal>
  );
}

/** The library name an upload gets: its file name without the extension. */
const loraName = (file: File) => file.name.replace(/\.safetensors$/i, "");

/** What the last upload left to say, in the drop zone until the next one. */
type UploadNote = { kind: "error" | "warning"; text: string } | null;

function UploadZone() {
  const offline = useOffline();
  const uploadLora = useCatalog((s) => s.uploadLora);
  const models = useCatalog((s) => s.models);
  const inputId = useId();
  const input = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);
  const [uploading, setUploading] = useState<string | null>(null);
  const [conflict, setConflict] = useState<File | null>(null);
  const [note, setNote] = useState<UploadNote>(null);

  const upload = async (file: File, overwrite = false) => {
    setConflict(null);
    setNote(null);
    if (!file.name.toLowerCase().endsWith(".safetensors")) {
      setNote({ kind: "error", text: `${file.name} is not a .safetensors file.` });
      return;
    }
    setUploading(file.name);
    try {
      const lora = await uploadLora(file, overwrite);
      notify(overwrite ? "LoRA replaced" : "LoRA added", lora.name);
      if (lora.fits.length === 0) {
        const installed = models.length > 0 ? ` (${models.map((m) => m.id).join(", ")})` : "";
        setNote({
          kind: "warning",
          text: `${lora.name} fits none of the installed models${installed}: a job using it will be refused until a model it fits is installed.`,
        });
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && !overwrite) setConflict(file);
      else if (!isUnreachable(err)) setNote({ kind: "error", text: `Could not upload ${file.name}: ${(err as Error).message}` });
    } finally {
      setUploading(null);
      if (input.current) input.current.value = "";
    }
  };

  return (
    <div
      className={`dropzone${dragging ? " dragging" : ""}${offline ? " disabled" : ""}`}
      onDragOver={(e) => {
        e.preventDefault();
        if (!offline) setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        const file = e.dataTransfer.files[0];
        if (file && !offline) void upload(file);
      }}
    >
      <Icon name="upload" size={24} />
      {uploading ? (
        <p role="status">Uploading {uploading}…</p>
      ) : conflict ? (
        <div className="row wrap center" role="group" aria-label="The name is taken">
          <p>A LoRA named {loraName(conflict)} exists.</p>
          <button type="button" className="btn" onClick={() => upload(conflict, true)}>
            Replace it
          </button>
          <button type="button" className="btn" onClick={() => setConflict(null)}>
            Keep the old one
          </button>
        </div>
      ) : offline ? (
        <p>Uploads wait for the server to be reachable.</p>
      ) : (
        <p>
          Drop a <code>.safetensors</code> LoRA here, or{" "}
          <label htmlFor={inputId} className="link-label">
            choose a file
          </label>
        </p>
      )}
      {note && (
        <p className={note.kind === "error" ? "error-text" : "warn-text"} role={note.kind === "error" ? "alert" : "status"} data-testid="upload-note">
          {note.text}
        </p>
      )}
      <input
        ref={input}
        id={inputId}
        className="visually-hidden"
        type="file"
        accept=".safetensors"
        aria-label="Upload a LoRA file"
        disabled={offline}
        onChange={(e) => {
          const file = e.target.files?.[0];
          if (file) void upload(file);
        }}
      />
    </div>
  );
}

/** Which installed models a LoRA fits, from the server's reading of its layers. */
function LoraFits({ lora }: { lora: Lora }) {
  return lora.fits.length > 0 ? (
    <p className="small" data-testid="lora-fits">
      Fits {lora.fits.join(", ")}
    </p>
  ) : (
    <p className="small warn-text" data-testid="lora-fits">
      Fits none of the installed models
    </p>
  );
}

export function Loras() {
  const offline = useOffline();
  const loras = useCatalog((s) => s.loras);
  const state = useCatalog((s) => s.lorasState);
  const loadLoras = useCatalog((s) => s.loadLoras);
  const rescan = useCatalog((s) => s.rescanLoras);
  const setLora = useStudio((s) => s.setLora);
  const searchId = useId();
  const [query, setQuery] = useState("");
  const [tag, setTag] = useState<string | null>(null);
  const [editing, setEditing] = useState<Lora | null>(null);

  useEffect(() => {
    loadLoras().catch((err) => reportError("Could not load the LoRA library", err));
  }, [loadLoras]);

  const tags = useMemo(() => Array.from(new Set(loras.flatMap((l) => l.tags))).sort(), [loras]);
  const shown = loras.filter((l) => matchesLora(l, query, tag));

  if (state === "unavailable") {
    return (
      <div className="page">
        <h1 className="page-title">LoRAs</h1>
        <div className="notice">The LoRA library is not available on this server yet.</div>
      </div>
    );
  }

  return (
    <div className="page">
      <div className="page-head">
        <h1 className="page-title">LoRAs</h1>
        <button type="button" className="btn" disabled={offline} onClick={() => rescan().catch((err) => reportError("Could not rescan the LoRA folder", err))}>
          <Icon name="refresh" /> Rescan
        </button>
      </div>
      <UploadZone />
      <div className="toolbar">
        <div className="search">
          <Icon name="search" />
          <label htmlFor={searchId} className="visually-hidden">
            Search LoRAs
          </label>
          <input id={searchId} type="search" placeholder="Search LoRAs" value={query} onChange={(e) => setQuery(e.target.value)} />
        </div>
        {tags.length > 0 && (
          <RadioChips
            label="Filter by tag"
            checked={tag === null ? "" : `tag:${tag}`}
            onSelect={(key) => setTag(key === "" ? null : key.slice(4))}
            options={[{ key: "", content: "all" }, ...tags.map((t) => ({ key: `tag:${t}`, content: t }))]}
          />
        )}
      </div>
      {state === "loading" && loras.length === 0 ? (
        <p className="muted">Loading…</p>
      ) : shown.length === 0 ? (
        <p className="muted">
          {loras.length > 0
            ? "No LoRA matches."
            : state === "ready"
              ? "The library is empty: upload a LoRA above."
              : offline
                ? "The server cannot be reached, so the library is not known yet."
                : "The library could not be loaded."}
        </p>
      ) : (
        <ul className="card-grid" aria-label="LoRA library">
          {shown.map((lora) => (
            <li key={lora.name} className="card" data-testid="lora-card">
              <div className="card-media">
                {lora.preview_url ? <AuthImage src={lora.preview_url} alt="" loading="lazy" /> : <Monogram name={lora.title || lora.name} />}
              </div>
              <div className="card-body">
                <h3 className="card-title" title={lora.name}>
                  {lora.title || lora.name}
                </h3>
                <p className="muted small">
                  {lora.title && lora.title !== lora.name ? `${lora.name} · ` : ""}
                  {lora.base_model ? `${lora.base_model} · ` : ""}
                  {formatBytes(lora.size_bytes)}
                  {lora.rank ? ` · rank ${lora.rank}` : ""}
                </p>
                <LoraFits lora={lora} />
                {lora.description && <p className="small clamp2">{lora.description}</p>}
                {lora.tags.length > 0 && (
                  <div className="tags">
                    {lora.tags.map((t) => (
                      <span key={t} className="tag">
                        {t}
                      </span>
                    ))}
                  </div>
                )}
              </div>
              <div className="card-actions">
                <button
                  type="button"
                  className="btn small"
                  aria-label={`Use ${lora.name} in the Studio`}
                  onClick={() => {
                    setLora(lora.name, lora.default_weight ?? 1);
                    notify("Added to the Studio's LoRAs", lora.name);
                  }}
                >
                  <Icon name="plus" /> Use
                </button>
                <button type="button" className="btn small" aria-label={`Edit ${lora.name}`} onClick={() => setEditing(lora)}>
                  <Icon name="edit" /> Edit
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
      {editing && <LoraEditor lora={editing} onClose={() => setEditing(null)} />}
    </div>
  );
}
