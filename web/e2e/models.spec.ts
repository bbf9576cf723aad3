import { expect, test } from "@playwright/test";

import { TINY, waitLive } from "./helpers";

interface ModelJson {
  id: string;
  source: string;
  default: boolean;
  deletable: boolean;
  samplers: string[];
}

test("Delete is offered only on models the server says it would delete", async ({ page, request }) => {
  const { models } = (await (await request.get("/api/v1/models")).json()) as { models: ModelJson[] };
  const tiny = models.find((m) => m.id === TINY);
  expect(tiny, `${TINY} is installed`).toBeDefined();
  // the contract: every model says whether it can be deleted; embedded and default ones cannot
  for (const model of models) expect(typeof model.deletable, `${model.id}.deletable`).toBe("boolean");
  expect(tiny!.deletable).toBe(false);

  await page.goto("/models");
  await waitLive(page);
  const cards = page.getByTestId("model-card");
  await expect(cards).toHaveCount(models.length);
  for (const model of models) {
    const card = cards.filter({ has: page.getByRole("heading", { name: model.id, exact: true }) });
    await expect(card.getByRole("button", { name: /delete/i })).toHaveCount(model.deletable ? 1 : 0);
  }
});
