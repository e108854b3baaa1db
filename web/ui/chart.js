// The chart MEM1 is about: tokens in context per turn. "Tokens in context" has one meaning
// everywhere: the tokens the model holds at the end of a turn, its prompt plus its output (the
// engine's `context_tokens`, `mem1 run`'s `context_per_turn`). MEM1 keeps it flat; the
// full-history baseline grows with every turn.
import { el, svg } from './dom.js';

/** @typedef {{ label: string, cls: string, live: boolean, pts: [number, number][] }} Series */

const W = 520, H = 220, L = 48, R = 12, T = 12, B = 30;

/**
 * Draws `series` into the `<svg>` (viewBox 0 0 520 220) and their legend into `legend`; the x axis
 * runs to the last turn shown or `minTurns`. Sets `data-live-points` on the svg (the points of
 * live series), which the tests read.
 * @param {SVGSVGElement} box
 * @param {HTMLElement} legend
 * @param {Series[]} series
 * @param {number} [minTurns]
 */
export function drawChart(box, legend, series, minTurns = 3) {
  box.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const maxX = Math.max(3, minTurns, ...series.flatMap((s) => s.pts.map((p) => p[0])));
  const maxY = Math.max(500, ...series.flatMap((s) => s.pts.map((p) => p[1])));
  const step = maxY > 4000 ? 2000 : maxY > 2000 ? 1000 : 500;
  const top = Math.ceil(maxY / step) * step;
  /** @param {number} t */
  const x = (t) => L + ((t - 1) / Math.max(1, maxX - 1)) * (W - L - R);
  /** @param {number} v */
  const y = (v) => H - B - (v / top) * (H - T - B);
  const parts = [];
  for (let v = 0; v <= top; v += step) {
    parts.push(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    parts.push(svg('text', { class: 'ax', x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(v)));
  }
  const every = Math.ceil(maxX / 15);
  for (let t = 1; t <= maxX; t += every) parts.push(svg('text', { class: 'ax', x: x(t), y: H - B + 14, 'text-anchor': 'middle' }, String(t)));
  parts.push(svg('text', { class: 'ax', x: (L + W - R) / 2, y: H - 2, 'text-anchor': 'middle' }, 'turn'));
  parts.push(svg('text', { class: 'ax', transform: `translate(11 ${(T + H - B) / 2}) rotate(-90)`, 'text-anchor': 'middle' }, 'tokens in context'));
  for (const s of series) {
    const d = s.pts.map((p, j) => `${j ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    parts.push(svg('path', { class: `series ${s.cls}`, d }));
    for (const p of s.pts) parts.push(svg('circle', { class: `pt ${s.cls}`, cx: x(p[0]).toFixed(1), cy: y(p[1]).toFixed(1), r: 2.5 }));
  }
  box.replaceChildren(...parts);
  box.dataset.livePoints = String(series.filter((s) => s.live).reduce((n, s) => n + s.pts.length, 0));
  legend.replaceChildren(...series.map((s) => el('span', { class: 'key' }, el('i', { class: s.cls }), s.label)));
}
