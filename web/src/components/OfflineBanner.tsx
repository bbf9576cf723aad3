import { useOffline, useServer } from "../stores/server";

/** The one message while the server cannot be reached; the views keep their last data. */
export function OfflineBanner() {
  const offline = useOffline();
  const browserOnline = useServer((s) => s.browserOnline);
  if (!offline) return null;
  return (
    <div className="offline-banner" role="alert" data-testid="offline-banner">
      <strong>Offline.</strong>{" "}
      {browserOnline ? "NovaGenIA cannot be reached." : "This device has no network."} What you see is the last known
      state; actions that need the server are paused until it is back.
    </div>
  );
}
