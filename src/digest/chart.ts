// A small inline SVG strip of verdicts: one mark per round, coloured by verdict. Inline SVG needs no
// image request (nothing to block, nothing to leak) and works on the status page with JavaScript
// off; mail clients that drop SVG still have the numbers next to it.
import type { Verdict } from '../types.js';
import { esc } from '../web/html.js';

export const VERDICT_COLOURS: Record<Verdict, string> = {
  ok: '#2e7d32',
  call_failed: '#c62828',
  metering_mismatch: '#ef6c00',
  count_query_failed: '#6a1b9a',
  auth_failed: '#4a0000',
  indeterminate: '#9e9e9e',
};

export interface StripOptions {
  width?: number;
  height?: number;
  /** Place marks by time within [start, end) (a day); without them, one after another. */
  start?: number;
  end?: number;
  /** Tooltip text of a mark (escaped here). */
  title?: (point: { at: number; verdict: Verdict }) => string;
  /** Accessible description of the whole strip (escaped here). */
  label?: string;
}

export function verdictStrip(points: { at: number; verdict: Verdict }[], opts: StripOptions = {}): string {
  const width = opts.width ?? 288;
  const height = opts.height ?? 14;
  const n = points.length;
  const timed = opts.start !== undefined && opts.end !== undefined && opts.end > opts.start;
  const markWidth = Math.max(2, Math.min(12, timed ? width / Math.max(n, 48) : width / Math.max(n, 1)));
  const marks = points.map((p, i) => {
    const x = timed ? ((p.at - opts.start!) / (opts.end! - opts.start!)) * (width - markWidth) : i * markWidth;
    const clamped = Math.max(0, Math.min(width - markWidth, x));
    const title = opts.title ? `<title>${esc(opts.title(p))}</title>` : '';
    return `<rect x="${clamped.toFixed(1)}" y="0" width="${markWidth.toFixed(1)}" height="${height}" fill="${VERDICT_COLOURS[p.verdict]}">${title}</rect>`;
  });
  const label = esc(opts.label ?? '');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${label}"><rect x="0" y="0" width="${width}" height="${height}" fill="#f2f2f2"/>${marks.join('')}</svg>`;
}
