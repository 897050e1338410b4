/** Tiny DOM helpers for the dashboard. Text goes in as text nodes, never as HTML. */

type Child = Node | string | null | undefined | false;

/** An element with attributes (`class`, `data-*`, `aria-*`, ...) and children; strings become text. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

/** An SVG element (`svg`, `path`, ...). */
export function svg(tag: string, attrs: Record<string, string | number> = {}): SVGElement {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e as SVGElement;
}

/** A hash link inside the dashboard. */
export function link(hash: string, text: string, attrs: Record<string, string> = {}): HTMLAnchorElement {
  return h('a', { href: `#${hash}`, ...attrs }, text);
}

/** `2026-12-02 17:40:12` in local time, or an em dash. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
