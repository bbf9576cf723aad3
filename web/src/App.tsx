import { useEffect } from "react";

import { eventSocket } from "./api/socket";
import { ApiKeyDialog } from "./components/ApiKeyDialog";
import { JobViewer } from "./components/JobViewer";
import { Nav } from "./components/Nav";
import { OfflineBanner } from "./components/OfflineBanner";
import { Toasts } from "./components/Toasts";
import { TopBar } from "./components/TopBar";
import { useAuth } from "./stores/auth";
import { useCluster } from "./stores/cluster";
import { useJobs } from "./stores/jobs";
import { useRoute } from "./stores/route";
import { followConnection, loadEverything } from "./stores/sync";
import { Cluster } from "./views/Cluster";
import { Loras } from "./views/Loras";
import { Models } from "./views/Models";
import { Queue } from "./views/Queue";
import { Studio } from "./views/Studio";

const QUEUE_POLL_MS = 5000;
const HEALTH_POLL_MS = 10000;

function CurrentView() {
  const view = useRoute((s) => s.view);
  switch (view) {
    case "queue":
      return <Queue />;
    case "loras":
      return <Loras />;
    case "models":
      return <Models />;
    case "cluster":
      return <Cluster />;
    default:
      return <Studio />;
  }
}

export function App() {
  const generation = useAuth((s) => s.generation);
  const view = useRoute((s) => s.view);
  const counts = useJobs((s) => s.counts);

  useEffect(() => {
    void loadEverything();
    eventSocket.restart();
  }, [generation]);

  useEffect(() => {
    const pollQueue = setInterval(() => useJobs.getState().loadQueue().catch(() => undefined), QUEUE_POLL_MS);
    const pollHealth = () => useCluster.getState().refresh().catch(() => undefined);
    void pollHealth();
    const healthTimer = setInterval(pollHealth, HEALTH_POLL_MS);
    const online = () => eventSocket.restart();
    window.addEventListener("online", online);
    const unfollow = followConnection();
    return () => {
      clearInterval(pollQueue);
      clearInterval(healthTimer);
      window.removeEventListener("online", online);
      unfollow();
      eventSocket.stop();
    };
  }, []);

  useEffect(() => {
    const titles = { studio: "Studio", queue: "Queue", loras: "LoRAs", models: "Models", cluster: "Cluster" };
    document.title = `${titles[view]} · NovaGenIA`;
  }, [view]);

  return (
    <div className="app">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <TopBar />
      <Nav queueBadge={(counts?.queued ?? 0) + (counts?.running ?? 0)} />
      <main id="main" className={`main view-${view}`} tabIndex={-1}>
        <OfflineBanner />
        <CurrentView />
      </main>
      <JobViewer />
      <ApiKeyDialog />
      <Toasts />
    </div>
  );
}
