import { useState } from "react";

import { api, authHeaders } from "../api/client";
import type { InputImage } from "../api/types";
import { lorasText, parametersText } from "../lib/params";
import { samplerLabel, useCatalog } from "../stores/catalog";
import { formatSeconds } from "../lib/format";
import { useJobs } from "../stores/jobs";
import { useRoute } from "../stores/route";
import { useOffline } from "../stores/server";
import { useStudio } from "../stores/studio";
import { notify, reportError } from "../stores/toasts";
import { useViewer } from "../stores/viewer";
import { AuthImage } from "./AuthImage";
import { Icon } from "./Icon";
import { Modal } from "./Modal";
import { StatusBadge } from "./StatusBadge";

async function downloadImage(url: string, filename: string) {
  const response = await fetch(url, { headers: authHeaders() });
  if (!response.ok) throw new Error(`The image could not be fetched (HTTP ${response.status})`);
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

export function JobViewer() {
  const jobId = useViewer((s) => s.jobId);
  const index = useViewer((s) => s.index);
  const open = useViewer((s) => s.open);
  const close = useViewer((s) => s.close);
  const job = useJobs((s) => (jobId ? s.jobs[jobId] : undefined));
  const [busy, setBusy] = useState(false);
  const offline = useOffline();
  const samplers = useCatalog((s) => s.samplers);
  if (!jobId || !job) return null;

  const image = job.images.find((i) => i.index === index) ?? job.images[0];
  const r = job.request;
  const duration = job.started_at && job.finished_at ? job.finished_at - job.started_at : null;

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(parametersText(job, image?.index ?? 0, samplers));
      notify("Parameters copied");
    } catch (err) {
      reportError("Could not copy the parameters", err);
    }
  };
  const rerun = async () => {
    setBusy(true);
    try {
      const next = await useJobs.getState().submit({ ...r });
      // the server resolved the seed into the request: the form shows the one re-used
      useStudio.getState().loadRequest(r, true);
      useStudio.getState().setActive(next);
      close();
      useRoute.getState().navigate("studio");
    } catch (err) {
      reportError("Could not re-run the job", err);
    } finally {
      setBusy(false);
    }
  };
  const useSeed = () => {
    const seed = image?.seed ?? r.seed;
    if (seed === null || seed === undefined) return;
    useStudio.getState().update({ seed });
    notify("Seed set in the Studio", String(seed));
    close();
    useRoute.getState().navigate("studio");
  };
  /** The picture as the Studio's start picture (img2img, inpainting, ControlNet). */
  const useAsInput = async () => {
    if (!image) return;
    setBusy(true);
    try {
      const response = await fetch(image.url, { headers: authHeaders() });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const form = new FormData();
      form.append("file", new File([await response.arrayBuffer()], "input.png", { type: "image/png" }));
      const input = await api<InputImage>("/inputs", { method: "POST", body: form });
      useStudio.getState().update({ init_image: input, mask: null });
      notify("Start picture set in the Studio", `${input.width}×${input.height}`);
      close();
      useRoute.getState().navigate("studio");
    } catch (err) {
      reportError("Could not use this picture", err);
    } finally {
      setBusy(false);
    }
  };
  const remix = () => {
    useStudio.getState().loadRequest({ ...r, seed: image?.seed ?? r.seed }, true);
    close();
    useRoute.getState().navigate("studio");
  };

  return (
    <Modal title={r.prompt.length > 60 ? `${r.prompt.slice(0, 60)}…` : r.prompt} onClose={close} wide>
      <div className="viewer">
        <div className="viewer-image">
          {image ? (
            <AuthImage src={image.url} alt={`Result ${image.index + 1} of "${r.prompt}"`} />
          ) : (
            <div className="empty-canvas">
              <StatusBadge status={job.status} />
              {job.error && <p className="error-text">{job.error}</p>}
            </div>
          )}
          {job.images.length > 1 && (
            <div className="thumbs" role="group" aria-label="Images of this job">
              {job.images.map((img) => (
                <button
                  key={img.index}
                  type="button"
                  className={`thumb${img.index === image?.index ? " selected" : ""}`}
                  aria-label={`Show image ${img.index + 1}`}
                  aria-pressed={img.index === image?.index}
                  onClick={() => open(job.id, img.index)}
                >
                  <AuthImage src={img.url} alt="" />
                </button>
              ))}
            </div>
          )}
        </div>
        <div className="viewer-side">
          <dl className="params">
            <dt>Status</dt>
            <dd>
              <StatusBadge status={job.status} />
            </dd>
            <dt>Prompt</dt>
            <dd className="prose">{r.prompt}</dd>
            {r.negative_prompt && (
              <>
                <dt>Negative</dt>
                <dd className="prose">{r.negative_prompt}</dd>
              </>
            )}
            <dt>Model</dt>
            <dd>{job.model}</dd>
            <dt>Sampler</dt>
            <dd>{samplerLabel(r.sampler, samplers)}</dd>
            <dt>Steps · CFG</dt>
            <dd>
              {r.steps} · {r.guidance_scale}
            </dd>
            <dt>Size</dt>
            <dd>{image ? `${image.width}×${image.height}` : r.width ? `${r.width}×${r.height}` : "native"}</dd>
            <dt>Seed</dt>
            <dd>{image?.seed ?? r.seed ?? "random"}</dd>
            {r.loras.length > 0 && (
              <>
                <dt>LoRAs</dt>
                <dd>{lorasText(r.loras)}</dd>
              </>
            )}
            {duration !== null && (
              <>
                <dt>Time</dt>
                <dd>{formatSeconds(duration)}</dd>
              </>
            )}
            {job.error && (
              <>
                <dt>Error</dt>
                <dd className="error-text">{job.error}</dd>
              </>
            )}
          </dl>
          <div className="viewer-actions">
            <button type="button" className="btn" onClick={copy}>
              <Icon name="copy" /> Copy parameters
            </button>
            {image && (
              <button
                type="button"
                className="btn"
                disabled={offline}
                onClick={() =>
                  downloadImage(image.url, `novagenia-${job.id}-${image.index}.png`).catch((err) =>
                    reportError("Could not download the image", err),
                  )
                }
              >
                <Icon name="download" /> Download
              </button>
            )}
            <button type="button" className="btn" onClick={rerun} disabled={busy || offline}>
              <Icon name="rerun" /> Re-run
            </button>
            <button type="button" className="btn" onClick={useSeed} disabled={!image && r.seed == null}>
              <Icon name="seed" /> Use seed
            </button>
            <button type="button" className="btn" onClick={() => void useAsInput()} disabled={!image || busy || offline}>
              <Icon name="studio" /> Use as start picture
            </button>
            <button type="button" className="btn" onClick={remix}>
              <Icon name="studio" /> Open in Studio
            </button>
          </div>
        </div>
      </div>
    </Modal>
  );
}
