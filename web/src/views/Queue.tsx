import { useEffect, useLayoutEffect, useRef, useState } from "react";
import { useShallow } from "zustand/react/shallow";

import type { Job } from "../api/types";
import { AuthImage } from "../components/AuthImage";
import { Icon } from "../components/Icon";
import { ProgressBar } from "../components/ProgressBar";
import { RadioChips } from "../components/RadioChips";
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

type Control = "front" | "up" | "down" | "cancel";

/** Runs a row's action; the words it resolves with are announced politely. */
type OnAction = (run: () => Promise<string>) => void;

const short = (job: Job, length = 40) => job.request.prompt.slice(0, length);

function QueuedRow({ job, index, count, onAction }: { job: Job; index: number; count: number; onAction: OnAction }) {
  const offline = useOffline();
  const move = useJobs((s) => s.move);
  const cancel = useJobs((s) => s.cancel);
  const label = short(job);
  const act = (control: Control) =>
    onAction(async () => {
      if (control === "cancel") {
        await cancel(job.id).catch((err) => {
          reportError("Could not cancel the job", err);
          throw err;
        });
        return `Cancelled "${label}".`;
      }
      await move(job.id, control).catch((err) => {
        reportError("Could not move the job", err);
        throw err;
      });
      const position = selectQueued(useJobs.getState()).findIndex((j) => j.id === job.id) + 1;
      return control === "front" ? "Moved to the front." : `Moved ${control} to position ${position}.`;
    });
  return (
    <li className="job-row" data-testid="queued-job" data-job-id={job.id} tabIndex={-1}>
      <span className="rank" aria-label={`Position ${index + 1}`}>
        {index + 1}
      </span>
      <JobSummary job={job} />
      <div className="row-actions">
        <button type="button" className="icon-btn" data-control="front" aria-label={`Move "${label}" to the front`} title="To the front" disabled={offline || index === 0} onClick={() => act("front")}>
          <Icon name="front" />
        </button>
        <button type="button" className="icon-btn" data-control="up" aria-label={`Move "${label}" up`} title="Up" disabled={offline || index === 0} onClick={() => act("up")}>
          <Icon name="up" />
        </button>
        <button type="button" className="icon-btn" data-control="down" aria-label={`Move "${label}" down`} title="Down" disabled={offline || index === count - 1} onClick={() => act("down")}>
          <Icon name="down" />
        </button>
        <button
          type="button"
          className="icon-btn danger"
          data-control="cancel"
          aria-label={`Cancel "${label}"`}
          title="Cancel"
          disabled={offline || job.cancel_requested}
          onClick={() => act("cancel")}
        >
          <Icon name="close" />
        </button>
      </div>
    </li>
  );
}

function RunningRow({ job, onAction }: { job: Job; onAction: OnAction }) {
  const offline = useOffline();
  const cancel = useJobs((s) => s.cancel);
  const preview = useJobs((s) => s.previews[job.id]);
  const label = short(job);
  const stop = () =>
    onAction(async () => {
      await cancel(job.id).catch((err) => {
        reportError("Could not cancel the job", err);
        throw err;
      });
      return `Cancelling "${label}": it stops at its next step.`;
    });
  return (
    <li className="job-row running" data-testid="running-job" data-job-id={job.id} tabIndex={-1}>
      {preview ? <img className="mini-preview" src={preview.image} alt="" /> : <span className="mini-preview" />}
      <div className="grow">
        <JobSummary job={job} />
        <ProgressBar progress={job.progress} label={`Progress of "${label}"`} />
      </div>
      <div className="row-actions">
        <button
          type="button"
          className="icon-btn danger"
          data-control="cancel"
          aria-label={`Cancel "${label}"`}
          title="Cancel"
          disabled={offline || job.cancel_requested}
          onClick={stop}
        >
          <Icon name="stop" />
        </button>
      </div>
    </li>
  );
}

/** Where keyboard focus was in the job lists: its row, the row's place, the control. */
interface FocusSpot {
  list: string;
  jobId: string;
  index: number;
  control: Control | null;
}

function spotOf(element: Element): FocusSpot | null {
  const row = element.closest<HTMLElement>("li[data-job-id]");
  const list = row?.parentElement?.dataset.list;
  if (!row || !list) return null;
  return {
    list,
    jobId: row.dataset.jobId!,
    index: Array.from(row.parentElement!.children).indexOf(row),
    control: (element.closest<HTMLElement>("[data-control]")?.dataset.control as Control | undefined) ?? null,
  };
}

/** Where focus goes when its element was disabled or removed: same row, else the next row, else the list's heading. */
function focusTarget(page: HTMLElement, spot: FocusSpot): HTMLElement | null {
  const rows = Array.from(page.querySelectorAll<HTMLElement>(`[data-list="${spot.list}"] > li`));
  const enabled = (row: HTMLElement | undefined, control: Control | null) =>
    control ? row?.querySelector<HTMLButtonElement>(`button[data-control="${control}"]:not(:disabled)`) ?? null : null;
  const row = rows.find((r) => r.dataset.jobId === spot.jobId);
  if (row) {
    // a move that reached an end disables its own button: the way back is the next best
    const fallback: Control[] = spot.control === "down" ? ["down", "up", "front"] : spot.control === "cancel" ? ["cancel"] : [spot.control ?? "up", "up", "down"];
    for (const control of fallback) {
      const button = enabled(row, control);
      if (button) return button;
    }
    return row;
  }
  const next = rows[Math.min(spot.index, rows.length - 1)];
  if (next) return enabled(next, spot.control) ?? next;
  return page.querySelector<HTMLElement>(`#${spot.list}-title`);
}

/**
 * Keeps keyboard focus in the job lists when a Move or Cancel disables its own button or
 * takes its row away (focus would fall to the page body), and announces what the actions
 * did in a polite live region.
 */
function useRowActions(pageRef: React.RefObject<HTMLElement | null>) {
  const spot = useRef<FocusSpot | null>(null);
  const [announcement, setAnnouncement] = useState("");

  // focus on a row itself (where a cancelled button left it) still remembers that button
  const track = (element: Element) => {
    const now = spotOf(element);
    const before = spot.current;
    spot.current = now && now.control === null && before?.jobId === now.jobId ? { ...now, control: before.control } : now;
  };

  useEffect(() => {
    const page = pageRef.current;
    if (!page) return;
    const focusIn = (e: FocusEvent) => {
      if (e.target instanceof Element) track(e.target);
    };
    const focusOut = (e: FocusEvent) => {
      // focus moved somewhere else on purpose (not lost to a removed or disabled element)
      if (e.relatedTarget instanceof Element && !page.contains(e.relatedTarget)) spot.current = null;
    };
    page.addEventListener("focusin", focusIn);
    page.addEventListener("focusout", focusOut);
    return () => {
      page.removeEventListener("focusin", focusIn);
      page.removeEventListener("focusout", focusOut);
    };
  }, [pageRef]);

  useLayoutEffect(() => {
    const page = pageRef.current;
    if (!page || !spot.current) return;
    const active = document.activeElement;
    const lost = !active || active === document.body || (active instanceof HTMLButtonElement && active.disabled);
    if (!lost) {
      if (page.contains(active)) track(active);
      return;
    }
    const target = focusTarget(page, spot.current);
    if (target) target.focus();
  });

  const onAction: OnAction = (run) => {
    run()
      .then(setAnnouncement)
      .catch(() => undefined);
  };
  return { onAction, announcement };
}

type Filter = "all" | "succeeded" | "failed" | "cancelled" | "expired";

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
        <RadioChips
          label="Show"
          checked={filter}
          onSelect={(key) => setFilter(key as Filter)}
          options={(["all", "succeeded", "failed", "cancelled", "expired"] as Filter[]).map((f) => ({ key: f, content: f }))}
        />
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
  const pageRef = useRef<HTMLDivElement>(null);
  const { onAction, announcement } = useRowActions(pageRef);

  useEffect(() => {
    loadQueue().catch((err) => reportError("Could not load the queue", err));
    loadHistory().catch((err) => reportError("Could not load the history", err));
  }, [loadQueue, loadHistory]);

  return (
    <div className="page" ref={pageRef}>
      <h1 className="page-title">Queue &amp; history</h1>
      <p className="visually-hidden" role="status" data-testid="queue-announcement">
        {announcement}
      </p>
      <section aria-labelledby="running-title">
        <h2 id="running-title" tabIndex={-1}>
          Running <span className="count">{running.length}</span>
        </h2>
        {running.length === 0 ? (
          <p className="muted">{queueLoaded ? "No job is running." : notLoaded(offline, "the queue")}</p>
        ) : (
          <ul className="job-list" data-list="running">
            {running.map((job) => (
              <RunningRow key={job.id} job={job} onAction={onAction} />
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="queued-title">
        <h2 id="queued-title" tabIndex={-1}>
          Queued <span className="count">{queued.length}</span>
          <span className="hint"> in run order</span>
        </h2>
        {queued.length === 0 ? (
          <p className="muted">{queueLoaded ? "The queue is empty." : notLoaded(offline, "the queue")}</p>
        ) : (
          <ol className="job-list" aria-label="Queued jobs in run order" data-list="queued">
            {queued.map((job, i) => (
              <QueuedRow key={job.id} job={job} index={i} count={queued.length} onAction={onAction} />
            ))}
          </ol>
        )}
      </section>
      <Gallery />
    </div>
  );
}
