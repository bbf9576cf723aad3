import { useEffect, useId, useRef, useState } from "react";

import { api, ApiError, isNotAvailable, isUnreachable } from "../api/client";
import type { Capabilities, Download, HubModel, HubSearch, ModelInfo } from "../api/types";
import { Icon } from "../components/Icon";
import { Monogram } from "../components/Monogram";
import { formatBytes, formatCount, percent } from "../lib/format";
import { isDeletable, useCatalog } from "../stores/catalog";
import { latestDownloadFor, useDownloads } from "../stores/downloads";
import { useOffline } from "../stores/server";
import { notify, reportError } from "../stores/toasts";

/** A failed Hub search in words: a gateway status means the server could not reach the Hub. */
function hubErrorWords(err: unknown): string {
  const detail = err instanceof Error ? err.message : String(err);
  if (err instanceof ApiError && [502, 503, 504].includes(err.status)) {
    return `The Hugging Face Hub cannot be reached from the server: ${detail}`;
  }
  return `The Hub search failed: ${detail}`;
}

function DownloadProgress({ download }: { download: Download }) {
  const offline = useOffline();
  const cancel = useDownloads((s) => s.cancel);
  const active = download.status === "queued" || download.status === "running";
  const pct = download.bytes_total ? percent(download.bytes_done, download.bytes_total) : null;
  const text =
    download.status === "running"
      ? `${formatBytes(download.bytes_done)}${download.bytes_total ? ` / ${formatBytes(download.bytes_total)}` : ""}` +
        (download.files_total ? ` · file ${download.files_done} / ${download.files_total}` : "")
      : download.status === "failed"
        ? (download.error ?? "failed")
        : download.status;
  return (
    <div className="download">
      {active && (
        <div
          className="progress-track"
          role="progressbar"
          aria-label={`Download of ${download.repo_id}`}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={pct ?? undefined}
          aria-valuetext={text}
        >
          <div className={`progress-fill${pct === null ? " indeterminate" : ""}`} style={{ width: pct === null ? "30%" : `${pct}%` }} />
        </div>
      )}
      <div className="row spread">
        <span className={`small ${download.status === "failed" ? "error-text" : "muted"}`}>{text}</span>
        {active && (
          <button
            type="button"
            className="btn small"
            disabled={offline}
            aria-label={`Cancel the download of ${download.repo_id}`}
            onClick={() => cancel(download.id).catch((err) => reportError("Could not cancel the download", err))}
          >
            Cancel
          </button>
        )}
      </div>
    </div>
  );
}

function InstalledModel({ model }: { model: ModelInfo }) {
  const deleteModel = useCatalog((s) => s.deleteModel);
  const offline = useOffline();
  const [confirm, setConfirm] = useState(false);
  const remove = async () => {
    if (!confirm) {
      setConfirm(true);
      return;
    }
    try {
      await deleteModel(model.id);
      notify("Model deleted", model.id);
    } catch (err) {
      reportError(`Could not delete ${model.id}`, err);
      setConfirm(false);
    }
  };
  return (
    <li className="card" data-testid="model-card">
      <div className="card-media short">
        <Monogram name={model.id.split("/").pop() ?? model.id} />
      </div>
      <div className="card-body">
        <h3 className="card-title" title={model.id}>
          {model.id}
        </h3>
        <p className="muted small">
          {model.capabilities?.family_label ?? model.pipeline_class ?? "pipeline"} · {model.size_bytes ? formatBytes(model.size_bytes) : "built in"} · {model.source}
        </p>
        <div className="tags">
          {model.default && <span className="tag accent">default</span>}
          {model.native_size ? <span className="tag">{model.native_size}px</span> : null}
          <CapabilityTags capabilities={model.capabilities} />
          <MemoryTags memory={model.memory} />
          <span className="tag">
            {model.loaded_on.length > 0
              ? `loaded on ${model.loaded_on.length} replica${model.loaded_on.length > 1 ? "s" : ""}`
              : "not loaded"}
          </span>
        </div>
      </div>
      {isDeletable(model) && (
        <div className="card-actions">
          <button type="button" className="btn small danger" disabled={offline} onClick={remove} aria-label={confirm ? `Really delete ${model.id}?` : `Delete ${model.id}`}>
            <Icon name="trash" /> {confirm ? "Really delete?" : "Delete"}
          </button>
        </div>
      )}
    </li>
  );
}

function HubResult({ model, installed }: { model: HubModel; installed: boolean }) {
  const downloads = useDownloads((s) => s.downloads);
  const start = useDownloads((s) => s.start);
  const offline = useOffline();
  const download = latestDownloadFor(downloads, model.id);
  const active = download && (download.status === "queued" || download.status === "running");
  return (
    <li className="card" data-testid="hub-card">
      <div className="card-body">
        <h3 className="card-title" title={model.id}>
          {model.id}
        </h3>
        <p className="muted small">
          {model.pipeline_class ?? "diffusers"} · {formatCount(model.downloads)} downloads · {formatCount(model.likes)} likes
        </p>
        <div className="tags">
          {model.gated ? <span className="tag warn">gated</span> : null}
          {installed && <span className="tag accent">installed</span>}
        </div>
        {download && <DownloadProgress download={download} />}
      </div>
      <div className="card-actions">
        <button
          type="button"
          className="btn small"
          disabled={offline || Boolean(active) || installed}
          aria-label={`Download ${model.id}`}
          onClick={() => start(model.id).catch((err) => reportError(`Could not download ${model.id}`, err))}
        >
          <Icon name="download" /> Download
        </button>
      </div>
    </li>
  );
}

/** What a model can do, in a few words; a model of a family the server cannot run says so. */
/** How replicas hold the model's weights, where the configuration changed it. */
function MemoryTags({ memory }: { memory: ModelInfo["memory"] }) {
  return (
    <>
      {memory.quantize !== "none" && <span className="tag">{memory.quantize} weights</span>}
      {memory.offload !== "none" && <span className="tag">{memory.offload} offload</span>}
      {memory.vae_slicing && <span className="tag">VAE slicing</span>}
    </>
  );
}

function CapabilityTags({ capabilities }: { capabilities: Capabilities | null }) {
  if (!capabilities) return <span className="tag warn">cannot run here</span>;
  const guidance = { cfg: `CFG ${capabilities.default_guidance}`, distilled: `guidance ${capabilities.default_guidance} (distilled)`, none: "no guidance" }[capabilities.guidance];
  return (
    <>
      <span className="tag">{capabilities.default_steps} steps</span>
      <span className="tag">{guidance}</span>
      {!capabilities.negative_prompt && <span className="tag">no negative prompt</span>}
      {capabilities.loras && <span className="tag">LoRAs</span>}
    </>
  );
}

export function Models() {
  const offline = useOffline();
  const models = useCatalog((s) => s.models);
  const modelsState = useCatalog((s) => s.modelsState);
  const loadModels = useCatalog((s) => s.loadModels);
  const loadControlNets = useCatalog((s) => s.loadControlNets);
  const downloads = useDownloads((s) => s.downloads);
  const loadDownloads = useDownloads((s) => s.load);
  const searchId = useId();
  const [query, setQuery] = useState("");
  const [results, setResults] = useState<HubModel[] | null>(null);
  const [hubState, setHubState] = useState<"idle" | "searching" | "offline" | "unavailable">("idle");
  /** Why the last search failed, shown until the next one. */
  const [hubError, setHubError] = useState<string | null>(null);
  const finishedSeen = useRef(new Set<string>());

  useEffect(() => {
    loadModels().catch((err) => reportError("Could not load the installed models", err));
    loadDownloads().catch((err) => {
      if (!isNotAvailable(err)) reportError("Could not load the downloads", err);
    });
  }, [loadModels, loadDownloads]);

  // a finished download is a new installed model (or ControlNet)
  useEffect(() => {
    for (const d of Object.values(downloads)) {
      if (d.status === "succeeded" && !finishedSeen.current.has(d.id)) {
        finishedSeen.current.add(d.id);
        loadModels().catch((err) => reportError("Could not load the installed models", err));
        loadControlNets().catch((err) => reportError("Could not load the ControlNets", err));
      }
    }
  }, [downloads, loadModels, loadControlNets]);

  const search = async (e?: React.FormEvent) => {
    e?.preventDefault();
    setHubState("searching");
    setHubError(null);
    try {
      const answer = await api<HubSearch>("/hub/search", { query: { q: query, limit: 24 } });
      setResults(answer.models);
      setHubState(answer.offline ? "offline" : "idle");
    } catch (err) {
      if (isNotAvailable(err)) setHubState("unavailable");
      else {
        setHubState("idle");
        setResults(null);
        // the server out of reach is the offline banner's to say
        if (!isUnreachable(err)) setHubError(hubErrorWords(err));
      }
    }
  };

  const activeDownloads = Object.values(downloads).filter(
    (d) => (d.status === "queued" || d.status === "running" || d.status === "failed") && !results?.some((r) => r.id === d.repo_id),
  );

  return (
    <div className="page">
      <h1 className="page-title">Models</h1>
      <section aria-labelledby="installed-title">
        <h2 id="installed-title">Installed</h2>
        {modelsState === "unavailable" ? (
          <div className="notice">The model list is not available on this server yet.</div>
        ) : models.length === 0 ? (
          <p className="muted">
            {modelsState === "ready"
              ? "No model installed."
              : modelsState === "loading"
                ? "Loading…"
                : offline
                  ? "The server cannot be reached, so the installed models are not known yet."
                  : "The model list could not be loaded."}
          </p>
        ) : (
          <ul className="card-grid" aria-label="Installed models">
            {models.map((m) => (
              <InstalledModel key={m.id} model={m} />
            ))}
          </ul>
        )}
      </section>
      {activeDownloads.length > 0 && (
        <section aria-labelledby="downloads-title">
          <h2 id="downloads-title">Downloads</h2>
          <ul className="job-list">
            {activeDownloads.map((d) => (
              <li key={d.id} className="job-row">
                <div className="grow">
                  <p className="job-prompt">{d.repo_id}</p>
                  <DownloadProgress download={d} />
                </div>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section aria-labelledby="hub-title">
        <h2 id="hub-title">Hugging Face Hub</h2>
        <form className="toolbar nowrap" onSubmit={search} role="search">
          <div className="search grow">
            <Icon name="search" />
            <label htmlFor={searchId} className="visually-hidden">
              Search Hub models
            </label>
            <input id={searchId} type="search" placeholder="sd-turbo, stable-diffusion…" value={query} onChange={(e) => setQuery(e.target.value)} />
          </div>
          <button type="submit" className="btn" disabled={offline || hubState === "searching"}>
            {hubState === "searching" ? "Searching…" : "Search"}
          </button>
        </form>
        {hubState === "unavailable" && <div className="notice">Hub search is not available on this server yet.</div>}
        {hubError && (
          <div className="notice error" role="alert" data-testid="hub-error">
            {hubError}
          </div>
        )}
        {hubState === "offline" && <div className="notice">The Hub cannot be reached from the server (offline).</div>}
        {results && results.length === 0 && hubState !== "offline" && <p className="muted">No text-to-image model found.</p>}
        {results && results.length > 0 && (
          <ul className="card-grid" aria-label="Hub search results">
            {results.map((m) => (
              <HubResult key={m.id} model={m} installed={models.some((x) => x.id === m.id)} />
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
