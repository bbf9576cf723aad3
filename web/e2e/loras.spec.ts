import { expect, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

import { drainQueue, TINY, waitLive } from "./helpers";

test("upload a LoRA, then generate with it", async ({ page, request }) => {
  await drainQueue(request);
  await request.delete("/api/v1/loras/e2e_tiny"); // left over by an earlier run on a reused server

  // a LoRA for the embedded model that draws red as green, made by the backend's test tooling
  const file = fileURLToPath(new URL("../test-results/e2e-lora/e2e_tiny.safetensors", import.meta.url));
  execFileSync("../.venv/bin/python", ["e2e/make_tiny_lora.py", file]);

  await page.goto("/loras");
  await waitLive(page);
  await page.getByLabel("Upload a LoRA file").setInputFiles(file);
  await expect(page.getByRole("status").filter({ hasText: "LoRA added" })).toBeVisible();
  const card = page.getByTestId("lora-card").filter({ hasText: "e2e_tiny" });
  await expect(card).toBeVisible();
  // the server read its layers: it fits the embedded model it was made for
  await expect(card.getByTestId("lora-fits")).toHaveText(new RegExp(`^Fits .*${TINY}`));

  // the same name again: words for people and a choice, not the API's instructions
  await page.getByLabel("Upload a LoRA file").setInputFiles(file);
  await expect(page.getByText("A LoRA named e2e_tiny exists.")).toBeVisible();
  await expect(page.locator("main")).not.toContainText(/overwrite/i);
  await page.getByRole("button", { name: "Replace it" }).click();
  await expect(page.getByRole("status").filter({ hasText: "LoRA replaced" })).toBeVisible();
  await card.getByRole("button", { name: "Use e2e_tiny in the Studio" }).click();

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Studio" }).click();
  await expect(page.getByText("e2e_tiny").first()).toBeVisible();
  await page.getByLabel("Prompt", { exact: true }).fill("a red square on a white background");
  await page.getByRole("button", { name: /Generate/ }).click();
  await expect(page.getByTestId("result-image")).toBeVisible({ timeout: 90_000 });
  await page.getByTestId("result-image").click();
  await expect(page.getByRole("dialog")).toContainText("e2e_tiny");
});

test("a file that only claims to be safetensors is refused with the server's words", async ({ page }) => {
  const file = fileURLToPath(new URL("../test-results/e2e-lora/fake.safetensors", import.meta.url));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, "this is not a safetensors file at all");

  await page.goto("/loras");
  await waitLive(page);
  await page.getByLabel("Upload a LoRA file").setInputFiles(file);
  const note = page.getByTestId("upload-note");
  await expect(note).toHaveAttribute("role", "alert");
  // the 422's detail, whatever the field it names
  await expect(note).toHaveText(/^Could not upload fake\.safetensors: (file: )?not a safetensors file/);
  await expect(page.getByTestId("lora-card").filter({ hasText: "fake" })).toHaveCount(0);
});
