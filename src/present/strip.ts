// Small strips of verdicts, coloured by verdict. The status page draws inline SVG: no image request
// (nothing to block, nothing to leak), works with JavaScript off. The email cannot: Gmail and
// Outlook desktop drop inline SVG, so its hourly strip is a row of table cells with a background
// colour (the `bgcolor` attribute for Outlook's Word engine, an inline style for the rest).
import type { Verdict } from '../types.js';
import { esc } from './escape.js';

export const VERDICT_COLOURS: Record<Verdict, string> = {
  ok: '#2e7d32',
  call_failed: '#c62828',
  metering_mismatch: '#ef6c00',
  count_query_failed: '#6a1b9a',
  auth_failed: '#4a0000',
  indeterminate: '#9e9e9e',
  maintenance: '#1565c0',
};

export interface StripOptions {
  width?: number;
  height?: number;
  /** Tooltip text of a mark (escaped here). */
  title?: (point: { at: number; verdict: Verdict }) => string;
  /** Accessible description of the whole strip (escaped here). */
  label?: string;
}

/** How serious each verdict is (higher is worse): an hour with several verdicts takes the colour of
 *  the worst. A Record, so a new verdict cannot be left unranked. */
const SEVERITY: Record<Verdict, number> = { auth_failed: 5, metering_mismatch: 4, call_failed: 3, count_query_failed: 2, indeterminate: 1, ok: 0, maintenance: 0.5 };
const MOST_SERIOUS_FIRST = (Object.keys(SEVERITY) as Verdict[]).sort((a, b) => SEVERITY[b] - SEVERITY[a]);

function svg(width: number, height: number, label: string, marks: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(label)}"><rect x="0" y="0" width="${width}" height="${height}" fill="#f2f2f2"/>${marks}</svg>`;
}

function rect(x: number, w: number, height: number, verdict: Verdict, title: string): string {
  return `<rect x="${x.toFixed(1)}" y="0" width="${w.toFixed(1)}" height="${height}" fill="${VERDICT_COLOURS[verdict]}">${title ? `<title>${esc(title)}</title>` : ''}</rect>`;
}

/** Recent rounds, one mark each, one after another (the status page). */
export function verdictStrip(points: { at: number; verdict: Verdict }[], opts: StripOptions = {}): string {
  const width = opts.width ?? 288;
  const height = opts.height ?? 14;
  const markWidth = Math.max(2, Math.min(12, width / Math.max(points.length, 1)));
  const marks = points.map((p, i) => rect(Math.min(width - markWidth, i * markWidth), markWidth, height, p.verdict, opts.title ? opts.title(p) : ''));
  return svg(width, height, opts.label ?? '', marks.join(''));
}

/**
 * A day as hourly marks (the digest): a day of one-minute rounds is 1,440 rounds, too many marks
 * for an email. Each hour takes the colour of its most serious verdict; its title gives the counts.
 * One table cell per hour, so every mail client shows it; an hour without rounds is light grey.
 */
export function hourStrip(hours: Partial<Record<Verdict, number>>[], opts: { width?: number; height?: number; label?: string; title: (hour: number, counts: string) => string; name: (v: Verdict) => string }): string {
  const width = opts.width ?? 240;
  const height = opts.height ?? 12;
  const w = Math.max(2, Math.floor(width / Math.max(hours.length, 1)));
  const cells = hours.map((h, i) => {
    const present = MOST_SERIOUS_FIRST.filter((v) => (h[v] ?? 0) > 0);
    const colour = present.length === 0 ? EMPTY_HOUR : VERDICT_COLOURS[present[0]];
    const title = present.length === 0 ? '' : ` title="${esc(opts.title(i, present.map((v) => `${h[v]} ${opts.name(v)}`).join(', ')))}"`;
    const verdict = present.length === 0 ? '' : ` data-verdict="${present[0]}"`;
    // A cell with no text collapses in some clients: a non-breaking space held at 1px keeps it.
    return `<td width="${w}" height="${height}" bgcolor="${colour}"${verdict}${title} style="width:${w}px;height:${height}px;padding:0;background-color:${colour};font-size:1px;line-height:1px;border-right:1px solid #ffffff">&nbsp;</td>`;
  });
  return `<table class="strip" role="img" aria-label="${esc(opts.label ?? '')}" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse;table-layout:fixed"><tr>${cells.join('')}</tr></table>`;
}

const EMPTY_HOUR = '#f2f2f2';
