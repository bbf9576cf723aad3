import react from "@vitejs/plugin-react";
import { VitePWA } from "vite-plugin-pwa";
import { defineConfig } from "vitest/config";

// Routes the ingress answers itself; the service worker must never answer them with
// the app shell.
const SERVER_ROUTES = [/^\/api\//, /^\/docs/, /^\/redoc/, /^\/openapi\.json/, /^\/sdapi\//, /^\/v1\//];

export default defineConfig({
  plugins: [
    react(),
    VitePWA({
      registerType: "autoUpdate",
      injectRegister: false,
      includeAssets: ["favicon.svg", "favicon-32.png", "apple-touch-icon.png"],
      manifest: {
        id: "/",
        name: "NovaGenIA",
        short_name: "NovaGenIA",
        description: "Text-to-image generation on your own Ray cluster.",
        lang: "en",
        start_url: "/",
        scope: "/",
        display: "standalone",
        orientation: "any",
        theme_color: "#3b82f6",
        background_color: "#0b0d12",
        categories: ["graphics", "productivity"],
        icons: [
          { src: "/icon-192.png", sizes: "192x192", type: "image/png", purpose: "any" },
          { src: "/icon-512.png", sizes: "512x512", type: "image/png", purpose: "any" },
          { src: "/icon-maskable-512.png", sizes: "512x512", type: "image/png", purpose: "maskable" },
        ],
      },
      workbox: {
        globPatterns: ["**/*.{js,css,html,svg,png,ico,webmanifest}"],
        navigateFallback: "/index.html",
        navigateFallbackDenylist: SERVER_ROUTES,
        cleanupOutdatedCaches: true,
        runtimeCaching: [
          {
            // Finished images never change: keep the ones already seen for offline browsing.
            urlPattern: /\/api\/v1\/images\/.+\.png$/,
            handler: "CacheFirst",
            options: {
              cacheName: "novagenia-images",
              expiration: { maxEntries: 300, maxAgeSeconds: 30 * 24 * 3600 },
            },
          },
        ],
      },
    }),
  ],
  server: {
    proxy: {
      "/api": { target: "http://127.0.0.1:7860", ws: true },
    },
  },
  build: { target: "es2022" },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: { include: [/styles\.css/] },
  },
});
