import { expect, test } from "@playwright/test";

// The e2e server runs without keys; this test makes /config say a key is required and
// checks what the app then sends (the server accepts any key when it has none).
test.use({ serviceWorkers: "block" });

test("asks once for the API key, keeps it, and sends it on every request and the WebSocket", async ({ page }) => {
  await page.route("**/api/v1/config", async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, json: { ...(await response.json()), auth_required: true } });
  });
  const sent: string[] = [];
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.pathname.startsWith("/api/v1/")) sent.push(`${url.pathname} ${request.headers()["authorization"] ?? "-"}`);
  });
  const sockets: string[] = [];
  page.on("websocket", (ws) => sockets.push(ws.url()));

  await page.goto("/");
  const dialog = page.getByRole("dialog", { name: "API key required" });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel("API key")).toBeFocused();
  await dialog.getByLabel("API key").fill("e2e-key");
  await dialog.getByRole("button", { name: "Save key" }).click();
  await expect(dialog).toHaveCount(0);

  await expect.poll(() => sent.includes("/api/v1/samplers Bearer e2e-key")).toBe(true);
  await expect.poll(() => sockets.some((url) => url.includes("api_key=e2e-key"))).toBe(true);
  expect(await page.evaluate(() => localStorage.getItem("novagenia.apiKey"))).toBe("e2e-key");

  // kept: no second question after a reload
  await page.reload();
  await expect(page.getByRole("button", { name: /Generate/ })).toBeVisible();
  await page.waitForTimeout(500);
  await expect(dialog).toHaveCount(0);
});
