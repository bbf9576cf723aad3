import { useConnection } from "../api/socket";
import { useAuth } from "../stores/auth";
import { useCatalog } from "../stores/catalog";
import { useCluster, type Health } from "../stores/cluster";
import { useJobs } from "../stores/jobs";
import { useRoute } from "../stores/route";
import { Icon } from "./Icon";

const HEALTH_WORDS: Record<Health, string> = {
  ok: "Cluster healthy",
  degraded: "Cluster degraded",
  down: "Server unreachable",
  unknown: "Cluster state unknown",
};

export function TopBar() {
  const counts = useJobs((s) => s.counts);
  const health = useCluster((s) => s.health);
  const socket = useConnection((s) => s.state);
  const version = useCatalog((s) => s.config?.version);
  const authRequired = useCatalog((s) => s.config?.auth_required);
  const requireKey = useAuth((s) => s.requireKey);
  const navigate = useRoute((s) => s.navigate);
  const socketWords = socket === "live" ? "Live updates" : socket === "connecting" ? "Connecting…" : "Reconnecting…";

  return (
    <header className="topbar">
      <a
        className="brand"
        href="/"
        aria-label="NovaGenIA home"
        onClick={(e) => {
          e.preventDefault();
          navigate("studio");
        }}
      >
        <img src="/favicon.svg" alt="" width="24" height="24" />
        <span>NovaGenIA</span>
        {version && <span className="version">v{version}</span>}
      </a>
      <div className="topbar-status">
        <button type="button" className="status-pill" onClick={() => navigate("queue")} aria-label={`Queue: ${counts?.queued ?? 0} queued, ${counts?.running ?? 0} running`}>
          <Icon name="queue" size={16} />
          <span data-testid="queue-depth">{counts ? counts.queued : "–"}</span>
          <span className="pill-label">queued</span>
          {counts && counts.running > 0 && <span className="pill-label long">· {counts.running} running</span>}
        </button>
        <button type="button" className="status-pill" onClick={() => navigate("cluster")} aria-label={HEALTH_WORDS[health]} title={HEALTH_WORDS[health]}>
          <span className={`dot ${health}`} aria-hidden="true" />
          <span className="pill-label">cluster</span>
        </button>
        <span className="status-pill plain" role="status" aria-label={socketWords} title={socketWords} data-testid="socket-state" data-state={socket}>
          <span className={`dot ws-${socket}`} aria-hidden="true" />
          <span className="pill-label">{socket === "live" ? "live" : "reconnecting"}</span>
        </span>
        {authRequired && (
          <button type="button" className="icon-btn" aria-label="Change the API key" title="API key" onClick={() => requireKey(false)}>
            <Icon name="key" size={18} />
          </button>
        )}
      </div>
    </header>
  );
}
