// Draws the app icons (PNG) with no dependency: a rounded dark tile with the accent
// sparkle. Run `npm run icons` after changing the design; the PNGs are committed.
import { writeFileSync } from "node:fs";
import { deflateSync } from "node:zlib";

const OUT = new URL("../public/", import.meta.url);
const BG = [11, 18, 32];
const ACCENT_TOP = [96, 165, 250];
const ACCENT_BOTTOM = [37, 99, 235];

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

function encodePng(size, rgba) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // RGBA
  const raw = Buffer.alloc((size * 4 + 1) * size);
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Inside test for a four-point sparkle (an astroid) centred at (cx, cy). */
function inSparkle(x, y, cx, cy, r) {
  const dx = Math.abs(x - cx) / r;
  const dy = Math.abs(y - cy) / r;
  return Math.pow(dx, 0.6) + Math.pow(dy, 0.6) <= 1;
}

function inRoundedSquare(x, y, radius) {
  const qx = Math.max(Math.abs(x - 0.5) - (0.5 - radius), 0);
  const qy = Math.max(Math.abs(y - 0.5) - (0.5 - radius), 0);
  return qx * qx + qy * qy <= radius * radius;
}

/** Renders one icon; `maskable` fills the whole square and keeps the art in the safe zone. */
function draw(size, { maskable }) {
  const rgba = Buffer.alloc(size * size * 4);
  const samples = 4;
  const scale = maskable ? 0.62 : 0.78;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const x = (px + (sx + 0.5) / samples) / size;
          const y = (py + (sy + 0.5) / samples) / size;
          if (!maskable && !inRoundedSquare(x, y, 0.22)) continue;
          // art coordinates, centred and scaled into the safe zone
          const ax = 0.5 + (x - 0.5) / scale;
          const ay = 0.5 + (y - 0.5) / scale;
          let colour = BG;
          if (inSparkle(ax, ay, 0.44, 0.56, 0.36) || inSparkle(ax, ay, 0.78, 0.22, 0.15)) {
            const t = Math.min(Math.max(ay, 0), 1);
            colour = ACCENT_TOP.map((c, i) => c + (ACCENT_BOTTOM[i] - c) * t);
          }
          r += colour[0]; g += colour[1]; b += colour[2]; a += 255;
        }
      }
      const n = samples * samples;
      const covered = a / 255;
      const o = (py * size + px) * 4;
      rgba[o] = covered ? Math.round(r / covered) : 0;
      rgba[o + 1] = covered ? Math.round(g / covered) : 0;
      rgba[o + 2] = covered ? Math.round(b / covered) : 0;
      rgba[o + 3] = Math.round(a / n);
    }
  }
  return encodePng(size, rgba);
}

const icons = [
  ["icon-192.png", 192, false],
  ["icon-512.png", 512, false],
  ["icon-maskable-512.png", 512, true],
  ["apple-touch-icon.png", 180, true],
  ["favicon-32.png", 32, false],
];
for (const [name, size, maskable] of icons) {
  writeFileSync(new URL(name, OUT), draw(size, { maskable }));
  console.log(`wrote public/${name}`);
}
