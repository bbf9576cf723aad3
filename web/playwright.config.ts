import { defineConfig } from "@playwright/test";

import { BASE_URL } from "./e2e/helpers";

// The browser tests run the REAL application (Ray Serve, embedded tiny model) on port 7870
// and drive Debian's Chromium: Playwright never downloads a browser here.

export default defineConfig({
  testDir: "e2e",
  outputDir: "test-results/artifacts",
  globalSetup: "./e2e/global-setup.ts",
  timeout: 120_000,
  expect: { timeout: 30_000 },
  workers: 1,
  fullyParallel: false,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL: BASE_URL,
    browserName: "chromium",
    headless: true,
    viewport: { width: 1280, height: 800 },
    serviceWorkers: "allow",
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: {
    command: "rm -rf test-results/e2e-data && ../.venv/bin/serve run e2e/serve_e2e.yaml",
    url: `${BASE_URL}/api/v1/health`,
    timeout: 300_000,
    reuseExistingServer: !process.env.CI,
    // a Ray of its own (never a cluster someone else started), no token auth
    env: { RAY_AUTH_MODE: "disabled", RAY_ADDRESS: "local" },
    // SIGTERM lets `serve run` shut Serve and its own local Ray down cleanly
    gracefulShutdown: { signal: "SIGTERM", timeout: 30_000 },
    stdout: "ignore",
    stderr: "pipe",
  },
});
