// Every text colour of both themes against every surface it can sit on: WCAG AA, 4.5:1.
import { describe, expect, it } from "vitest";

import css from "../styles.css?raw";

function tokens(block: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of block.matchAll(/--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;/g)) out[m[1]] = m[2];
  return out;
}

const darkBlock = css.slice(css.indexOf(":root {"), css.indexOf("}", css.indexOf(":root {")));
const lightStart = css.indexOf("@media (prefers-color-scheme: light)");
const lightBlock = css.slice(lightStart, css.indexOf("}", css.indexOf(":root {", lightStart)));
const dark = tokens(darkBlock);
const light = { ...dark, ...tokens(lightBlock) };

function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** A CSS colour (a token, a hex, or rgba() over `under`) as the hex it shows as. */
function resolve(value: string, theme: Record<string, string>, under: string): string {
  const token = /^var\(--([\w-]+)\)$/.exec(value.trim());
  if (token) return theme[token[1]];
  if (/^#[0-9a-fA-F]{6}$/.test(value.trim())) return value.trim();
  const rgba = /^rgba\(\s*(\d+),\s*(\d+),\s*(\d+),\s*([\d.]+)\s*\)$/.exec(value.trim());
  if (!rgba) throw new Error(`cannot read the colour ${value}`);
  const alpha = Number(rgba[4]);
  const channels = [1, 2, 3].map((i, k) => {
    const below = parseInt(under.slice(1 + 2 * k, 3 + 2 * k), 16);
    return Math.round(Number(rgba[i]) * alpha + below * (1 - alpha));
  });
  return `#${channels.map((c) => c.toString(16).padStart(2, "0")).join("")}`;
}

/** The `.btn kbd` rule's text and background, as drawn on the primary button. */
function kbdColours(theme: Record<string, string>): { color: string; background: string } {
  const start = css.indexOf(".btn kbd {");
  const rule = css.slice(start, css.indexOf("}", start));
  const background = /\bbackground(?:-color)?:\s*([^;]+);/.exec(rule)?.[1] ?? "transparent";
  const color = /(?:^|[\s;{])color:\s*([^;]+);/.exec(rule)?.[1] ?? "var(--on-accent)";
  const button = theme["accent-strong"];
  return {
    background: background === "transparent" ? button : resolve(background, theme, button),
    color: resolve(color, theme, button),
  };
}

function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

const TEXT = ["text", "muted", "accent-text", "ok", "warn", "err", "grey"];
const SURFACES = ["bg", "surface", "surface-2", "surface-3"];

describe.each([
  ["dark", dark],
  ["light", light],
])("%s theme", (_name, theme) => {
  it.each(TEXT)("%s is readable on every surface", (fg) => {
    for (const bg of SURFACES) {
      expect(contrast(theme[fg], theme[bg]), `${fg} on ${bg}`).toBeGreaterThanOrEqual(4.5);
    }
  });

  it("the primary button's text is readable", () => {
    expect(contrast(theme["on-accent"], theme["accent-strong"])).toBeGreaterThanOrEqual(4.5);
  });

  it("the Ctrl+Enter hint on the Generate button is readable", () => {
    const { color, background } = kbdColours(theme);
    expect(contrast(color, background), `${color} on ${background}`).toBeGreaterThanOrEqual(4.5);
  });
});

it("the accent is the manifest's theme colour", () => {
  expect(dark.accent).toBe("#3b82f6");
});
