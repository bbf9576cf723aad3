import { useEffect } from "react";

import type { ClusterNode, Deployment, Gpu } from "../api/types";
import { Icon } from "../components/Icon";
import { formatBytes, percent } from "../lib/format";
import { useCluster } from "../stores/cluster";
import { useJobs } from "../stores/jobs";
import { reportError } from "../stores/toasts";

export const CLUSTER_REFRESH_MS = 3000;

function Meter({ label, value, max, text }: { label: string; value: number; max: number; text: string }) {
  const pct = percent(value, max);
  return (
    <div className="meter">
      <div className="row spread small">
        <span>{label}</span>
        <span className="muted">{text}</span>
      </div>
      <div className="progress-track" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={max} aria-valuenow={value} aria-valuetext={text}>
        <div className={`progress-fill${pct > 90 ? " hot" : ""}`} style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}

function GpuBlock({ gpu }: { gpu: Gpu }) {
  const extras = [
    gpu.temperature !== null && gpu.temperature !== undefined ? `${Math.round(gpu.temperature)} °C` : null,
    gpu.power_w !== null && gpu.power_w !== undefined ? `${Math.round(gpu.power_w)} W` : null,
  ].filter(Boolean);
  return (
    <div className="gpu">
      <p className="small">
        <strong>
          GPU {gpu.index} · {gpu.name}
        </strong>
        {extras.length > 0 && <span className="muted"> · {extras.join(" · ")}</span>}
      </p>
      <Meter
        label={`GPU ${gpu.index} memory`}
        value={gpu.memory_used}
        max={gpu.memory_total}
        text={`${formatBytes(gpu.memory_used)} / ${formatBytes(gpu.memory_total)}`}
      />
      <Meter label={`GPU ${gpu.index} utilisation`} value={gpu.utilization ?? 0} max={100} text={gpu.utilization === null ? "–" : `${Math.round(gpu.utilization)} %`} />
    </div>
  );
}

function NodeCard({ node, deployments }: { node: ClusterNode; deployments: Deployment[] }) {
  const here = deployments
    .map((d) => ({ name: d.name, count: d.replicas.filter((r) => r.node_id === node.id).length }))
    .filter((d) => d.count > 0);
  const cpuTotal = node.resources_total.CPU ?? 0;
  const cpuUsed = node.resources_used.CPU ?? 0;
  const memTotal = node.resources_total.memory ?? 0;
  const memUsed = node.resources_used.memory ?? 0;
  const gpuTotal = node.resources_total.GPU ?? 0;
  return (
    <li className="card node" data-testid="node-card">
      <div className="card-body">
        <div className="row spread">
          <h3 className="card-title" title={node.id}>
            <span className={`dot ${node.alive ? "ok" : "down"}`} aria-hidden="true" /> {node.address}
          </h3>
          <div className="tags">
            {node.is_head && <span className="tag accent">head</span>}
            <span className="tag">{node.alive ? "alive" : "dead"}</span>
          </div>
        </div>
        <p className="muted small mono">{node.id.slice(0, 16)}</p>
        <Meter label="CPU (Ray logical)" value={cpuUsed} max={cpuTotal} text={`${cpuUsed} / ${cpuTotal}`} />
        {memTotal > 0 && <Meter label="Memory (Ray)" value={memUsed} max={memTotal} text={`${formatBytes(memUsed)} / ${formatBytes(memTotal)}`} />}
        {gpuTotal > 0 && <Meter label="GPUs (Ray logical)" value={node.resources_used.GPU ?? 0} max={gpuTotal} text={`${node.resources_used.GPU ?? 0} / ${gpuTotal}`} />}
        {here.length > 0 && (
          <div className="tags" aria-label="Replicas on this node">
            {here.map((d) => (
              <span key={d.name} className="tag">
                {d.name} ×{d.count}
              </span>
            ))}
          </div>
        )}
        {node.gpus.length === 0 ? <p className="muted small">No GPU on this node.</p> : node.gpus.map((g) => <GpuBlock key={g.index} gpu={g} />)}
      </div>
    </li>
  );
}

export function Cluster() {
  const cluster = useCluster((s) => s.cluster);
  const state = useCluster((s) => s.state);
  const refresh = useCluster((s) => s.refresh);
  const updatedAt = useCluster((s) => s.updatedAt);
  const perModel = useJobs((s) => s.perModel);

  useEffect(() => {
    let stopped = false;
    const tick = () =>
      refresh().catch((err) => {
        if (!stopped) reportError("Could not read the cluster state", err);
      });
    void tick();
    const timer = setInterval(tick, CLUSTER_REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [refresh]);

  if (state === "unavailable") {
    return (
      <div className="page">
        <h1 className="page-title">Cluster</h1>
        <div className="notice">Cluster monitoring is not available on this server yet.</div>
      </div>
    );
  }

  const queue = cluster?.queue ?? Object.fromEntries(Object.entries(perModel).map(([m, c]) => [m, c.queued]));
  return (
    <div className="page">
      <div className="page-head">
        <h1 className="page-title">Cluster</h1>
        <div className="row">
          {updatedAt && <span className="muted small">updated {new Date(updatedAt).toLocaleTimeString()}</span>}
          {cluster?.dashboard_url && (
            <a className="btn" href={cluster.dashboard_url} target="_blank" rel="noreferrer">
              <Icon name="external" /> Ray dashboard
            </a>
          )}
        </div>
      </div>
      {!cluster ? (
        <p className="muted">{state === "error" ? "The cluster state could not be read." : "Loading…"}</p>
      ) : (
        <>
          <section aria-labelledby="nodes-title">
            <h2 id="nodes-title">
              Nodes <span className="count">{cluster.nodes.length}</span>
            </h2>
            <ul className="card-grid wide" aria-label="Nodes">
              {cluster.nodes.map((n) => (
                <NodeCard key={n.id} node={n} deployments={cluster.deployments} />
              ))}
            </ul>
          </section>
          <div className="grid2 top">
            <section aria-labelledby="deployments-title">
              <h2 id="deployments-title">Deployments</h2>
              <table className="table">
                <thead>
                  <tr>
                    <th scope="col">Deployment</th>
                    <th scope="col">Status</th>
                    <th scope="col" className="num">
                      Replicas
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {cluster.deployments.map((d) => (
                    <tr key={d.name}>
                      <td>{d.name}</td>
                      <td>
                        <span className={`badge dep-${d.status.toLowerCase()}`}>{d.status.toLowerCase()}</span>
                      </td>
                      <td className="num">
                        {d.running_replicas} / {d.target_replicas}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
            <section aria-labelledby="depth-title">
              <h2 id="depth-title">Queue depth per model</h2>
              {Object.keys(queue).length === 0 ? (
                <p className="muted">Nothing queued.</p>
              ) : (
                <table className="table">
                  <thead>
                    <tr>
                      <th scope="col">Model</th>
                      <th scope="col" className="num">
                        Queued
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {Object.entries(queue).map(([model, n]) => (
                      <tr key={model}>
                        <td>{model}</td>
                        <td className="num">{n}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
          </div>
        </>
      )}
    </div>
  );
}
