// Loading what every view needs, and loading it again when the connection comes back:
// a page that met a dead server, or a socket that dropped, must not keep showing the
// empty lists (or raw sampler ids, or no version) of a load that failed.

import { api } from "../api/client";
import { useConnection } from "../api/socket";
import { useAuth } from "./auth";
import { useCatalog } from "./catalog";
import { useCluster } from "./cluster";
import { useJobs } from "./jobs";
import { useServer } from "./server";
import { reportError } from "./toasts";

/** Config, models, samplers, LoRAs, queue and history; stops at the key dialog when one is needed. */
export async function loadEverything(): Promise<void> {
  const catalog = useCatalog.getState();
  let config;
  try {
    config = await catalog.loadConfig();
  } catch (err) {
    reportError("Could not reach NovaGenIA", err);
    return;
  }
  if (config.auth_required && !useAuth.getState().apiKey) {
    useAuth.getState().requireKey(false);
    return;
  }
  const jobs = useJobs.getState();
  await Promise.all([
    catalog.loadModels().catch((err) => reportError("Could not load the models", err)),
    catalog.loadControlNets().catch((err) => reportError("Could not load the ControlNets", err)),
    catalog.loadSamplers().catch((err) => reportError("Could not load the samplers", err)),
    catalog.loadLoras().catch((err) => reportError("Could not load the LoRA library", err)),
    jobs.loadQueue().catch((err) => reportError("Could not load the queue", err)),
    jobs.loadHistory().catch((err) => reportError("Could not load the history", err)),
  ]);
}

let refetching: Promise<void> | null = null;

/** Everything loaded, once at a time: several signals of the same comeback share one reload. */
export function refetchAll(): Promise<void> {
  refetching ??= Promise.all([loadEverything(), useCluster.getState().refresh().catch(() => undefined)])
    .then(() => undefined)
    .finally(() => {
      refetching = null;
    });
  return refetching;
}

/**
 * Follows the connection: the browser going off/online, the socket dropping (a quick
 * health probe tells whether the server is gone) and coming back, the server answering
 * again. Every comeback reloads what was loaded. Returns the unsubscribe.
 */
export function followConnection(): () => void {
  const unsubscribeSocket = useConnection.subscribe((now, before) => {
    if (now.state === "live" && before.state === "reconnecting") void refetchAll();
    if (now.state === "reconnecting" && before.state !== "reconnecting") api("/health").catch(() => undefined);
  });
  const unsubscribeServer = useServer.subscribe((now, before) => {
    if (now.reachable === true && before.reachable === false) void refetchAll();
  });
  const online = () => {
    useServer.getState().setBrowserOnline(true);
    void refetchAll();
  };
  const offline = () => useServer.getState().setBrowserOnline(false);
  window.addEventListener("online", online);
  window.addEventListener("offline", offline);
  return () => {
    unsubscribeSocket();
    unsubscribeServer();
    window.removeEventListener("online", online);
    window.removeEventListener("offline", offline);
  };
}
