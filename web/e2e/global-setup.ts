import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The server serves web/dist: testing a stale or missing build would test nothing. */
export default function globalSetup(): void {
  const index = fileURLToPath(new URL("../dist/index.html", import.meta.url));
  if (!existsSync(index)) {
    throw new Error("web/dist is missing: run `npm run build` before `npm run e2e`.");
  }
}
