// A stand-in picture for a card without a preview: initials on a colour from the name.

export function hueOf(name: string): number {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return h;
}

export function initials(name: string): string {
  const words = name.replace(/[_\-./]+/g, " ").trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return "?";
  if (words.length === 1) return words[0].slice(0, 2).toUpperCase();
  return (words[0][0] + words[1][0]).toUpperCase();
}

export function Monogram({ name }: { name: string }) {
  const hue = hueOf(name);
  return (
    <div
      className="monogram"
      aria-hidden="true"
      style={{ background: `linear-gradient(135deg, hsl(${hue} 45% 28%), hsl(${(hue + 40) % 360} 50% 18%))` }}
    >
      {initials(name)}
    </div>
  );
}
