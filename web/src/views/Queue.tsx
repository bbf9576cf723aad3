import { useEffect, useState } from "react";
import { useShallow } from "zustand/react/shallow";

import type { Job } from "../api/types";
import { AuthImage } from "../components/AuthImage";
import { Icon } from "../components/Icon";
import { ProgressBar } from "../components/ProgressBar";
import { StatusBadge } from "../components/StatusBadge";
import { timeAgo } from "../lib/format";
import { selectFinished, selectQueued, selectRunning, useJobs } from "../stores/jobs";
import { useOffline } from "../stores/server";
import { reportError } from "../stores/toasts";
import { useViewer } from "../stores/viewer";

function JobSummary({ job }: { job: Job }) {
  const r = job.request;
  return (
    <div className="job-summary">
      <p className="job-prompt" title={r.prompt}>
        {r.prompt}
      </p>
      <p className="muted small">
        {job.model} · {r.width && r.height ? `${r.width}×${r.height}` : "native"} · {r.steps} steps
        {r.batch_size > 1 ? ` · ×${r.batch_size}` : ""} · priority {job.priority} · {timeAgo(job.created_at)}
      </p>
    </div>
  );
}

function QueuedRow({ job, index, count }: { job: Job; index: number; count: number }) {
  const offline = useOffline();
  const move = useJobs((s) => s.move);
  const cancel = useJobs((s) => s.cancel);
  const label = job.request.prompt.slice(0, 40);
  const doMove = (where: "up" | "down" | "front") =>
    move(job.id, where).catch((err) => reportError("Could not change the job's priority", err));
  return (
    <li className="job-row" data-testid="queued-job" data-job-id={job.id}>
      <span className="rank" aria-label={`Position ${index + 1}`}>
        {index + 1}
      </span>
      <JobSummary job={job} />
      <div className="row-actions">
        <button type="button" className="icon-btn" aria-label={`Move "${label}" to the front`} title="To front" disabled={offline || index === 0} onClick={() => doMove("front")}>
          <Icon name="front" />
        </button>
        <button type="button" className="icon-btn" aria-label={`Move "${label}" up`} title="Up" disabled={offline || index === 0} onClick={() => doMove("up")}>
          <Icon name="up" />
        </button>
        <button type="button" className="icon-btn" aria-label={`Move "${label}" down`} title="Down" disabled={offline || index === count - 1} onClick={() => doMove("down")}>
          <Icon name="down" />
        </button>
        <button
          type="button"
          className="icon-btn danger"
          aria-label={`Cancel "${label}"`}
          title="Cancel"
          disabled={offline || job.cancel_requested}
          onClick={() => cancel(job.id).catch((err) => reportError("Could not cancel the job", err))}
        >
          <Icon name="close" />
        </button>
      </div>
    </li>
  );
}

function RunningRow({ job }: { job: Job }) {
  const offline = useOffline();
  const cancel = useJobs((s) => s.cancel);
  const preview = useJobs((s) => s.previews[job.id]);
  return (
    <li className="job-row running" data-testid="running-job" data-job-id={job.id}>
      {preview ? <img className="mini-preview" src={preview.image} alt="" /> : <span className="mini-preview" />}
      <div className="grow">
        <JobSummary job={job} />
        <ProgressBar progress={job.progress} label={`Progress of "${job.request.prompt.slice(0, 40)}"`} />
      </div>
      <div className="row-actions">
        <button
          type="button"
          className="icon-btn danger"
          aria-label={`Cancel "${job.request.prompt.slice(0, 40)}"`}
          title="Cancel"
          disabled={offline || job.cancel_requested}
          onClick={() => cancel(job.id).catch((err) => reportError("Could not cancel the job", err))}
        >
          <Icon name="stop" />
        </button>
      </div>
    </li>
  );
}

type Filter = "all" | "succeeded" | "failed" | "cancelled";

function Gallery() {
  const offline = useOffline();
  const historyLoaded = useJobs((s) => s.historyLoaded);
  const finished = useJobs(useShallow(selectFinished));
  const historyCursor = useJobs((s) => s.historyCursor);
  const loadHistory = useJobs((s) => s.loadHistory);
  const open = useViewer((s) => s.open);
  const [filter, setFilter] = useState<Filter>("all");
  const shown = finished.filter((j) => filter === "all" || j.status === filter);

  return (
    <section aria-labelledby="finished-title">
      <div className="section-head">
        <h2 id="finished-title">Finished</h2>
        <div className="chips" role="radiogroup" aria-label="Show">
          {(["all", "succeeded", "failed", "cancelled"] as Filter[]).map((f) => (
            <button key={f} type="button" role="radio" aria-checked={filter === f} className={`chip${filter === f ? " selected" : ""}`} onClick={() => setFilter(f)}>
              {f}
            </button>
          ))}
        </div>
      </div>
      {shown.length === 0 ? (
        <p className="muted">{historyLoaded ? "Nothing here yet." : notLoaded(offline, "the history")}</p>
      ) : (
        <ul className="gallery-grid" aria-label="Finished jobs">
          {shown.flatMap((job) =>
            job.status === "succeeded" && job.images.length > 0
              ? job.images.map((img) => (
                  <li key={`${job.id}-${img.index}`} className="tile" data-testid="finished-tile" data-job-id={job.id}>
                    <button type="button" aria-label={`Open "${job.request.prompt.slice(0, 60)}" (image ${img.index + 1}, seed ${img.seed})`} onClick={() => open(job.id, img.index)}>
                      <AuthImage src={img.url} alt="" width={img.width} height={img.height} loading="lazy" style={{ aspectRatio: `${img.width} / ${img.height}` }} />
                    </button>
                  </li>
                ))
              : [
                  <li key={job.id} className="tile tile-text" data-testid="finished-tile" data-job-id={job.id}>
                    <button type="button" aria-label={`Open ${job.status} job "${job.request.prompt.slice(0, 60)}"`} onClick={() => open(job.id)}>
                      <StatusBadge status={job.status} />
                      <span className="job-prompt">{job.request.prompt}</span>
                      {job.error && <span className="error-text small">{job.error}</span>}
                    </button>
                  </li>,
                ],
          )}
        </ul>
      )}
      {historyCursor && (
        <div className="row center">
          <button type="button" className="btn" disabled={offline} onClick={() => loadHistory(true).catch((err) => reportError("Could not load more history", err))}>
            Load more
          </button>
        </div>
      )}
    </section>
  );
}

/** What an empty list says when it was never loaded: not "empty", which would be a claim. */
function notLoaded(offline: boolean, what: string): string {
  return offline ? `The server cannot be reached, so ${what} is not known yet.` : `Loading ${what}…`;
}

export function Queue() {
  const offline = useOffline();
  const queueLoaded = useJobs((s) => s.queueLoaded);
  const queued = useJobs(useShallow(selectQueued));
  const running = useJobs(useShallow(selectRunning));
  const loadQueue = useJobs((s) => s.loadQueue);
  const loadHistory = useJobs((s) => s.loadHistory);

  useEffect(() => {
    loadQueue().catch((err) => reportError("Could not load the queue", err));
    loadHistory().catch((err) => reportError("Could not load the history", err));
  }, [loadQueue, loadHistory]);

  return (
    <div className="page">
      <h1 className="page-title">Queue &amp; history</h1>
      <section aria-labelledby="running-title">
        <h2 id="running-title">
          Running <span className="count">{running.length}</span>
        </h2>
        {running.length === 0 ? (
          <p className="muted">{queueLoaded ? "No job is running." : notLoaded(offline, "the queue")}</p>
        ) : (
          <ul className="job-list">
            {running.map((job) => (
              <RunningRow key={job.id} job={job} />
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="queued-title">
        <h2 id="queued-title">
          Queued <span className="count">{queued.length}</span>
          <span className="hint"> in run order</span>
        </h2>
        {queued.length === 0 ? (
          <p className="muted">{queueLoaded ? "The queue is empty." : notLoaded(offline, "the queue")}</p>
        ) : (
          <ol className="job-list" aria-label="Queued jobs in run order">
            {queued.map((job, i) => (
              <QueuedRow key={job.id} job={job} index={i} count={queued.length} />
            ))}
          </ol>
        )}
      </section>
      <Gallery />
    </div>
  );
}
