// Badges for wiki pages and READMEs (GET /badges/...): a small SVG in the usual two-part shape, a
// grey label and a coloured message. Both texts come from the config or the history (a service's
// name can hold anything), so both are escaped; the width is estimated from the text (a CJK
// character takes two columns), since a badge is drawn without measuring fonts.
import type { Verdict } from '../types.js';
import { esc, flat } from './escape.js';
import { VERDICT_COLOURS } from './strip.js';
import { displayWidth } from '../util/width.js';

/** Longest label or message drawn: a badge is a glance, not a page. */
const MAX_TEXT = 40;
/** Width of one column of 11px Verdana, and the padding each side of a text. */
const COLUMN_PX = 7;
const PAD_PX = 6;

const LABEL_COLOUR = '#555';
export const NO_DATA_COLOUR = '#9f9f9f';

function fit(text: string): string {
  const one = flat(text).trim();
  return [...one].length <= MAX_TEXT ? one : `${[...one].slice(0, MAX_TEXT - 1).join('')}…`;
}

/** The SVG of a badge. `title` is the tooltip (and the accessible name). */
export function badgeSvg(label: string, message: string, colour: string): string {
  const l = fit(label);
  const m = fit(message);
  const lw = displayWidth(l) * COLUMN_PX + 2 * PAD_PX;
  const mw = displayWidth(m) * COLUMN_PX + 2 * PAD_PX;
  const w = lw + mw;
  const name = esc(`${l}: ${m}`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="20" viewBox="0 0 ${w} 20" role="img" aria-label="${name}"><title>${name}</title>` +
    `<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>` +
    `<clipPath id="r"><rect width="${w}" height="20" rx="3" fill="#fff"/></clipPath>` +
    `<g clip-path="url(#r)"><rect width="${lw}" height="20" fill="${LABEL_COLOUR}"/><rect x="${lw}" width="${mw}" height="20" fill="${esc(colour)}"/><rect width="${w}" height="20" fill="url(#s)"/></g>` +
    `<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,'Microsoft YaHei',sans-serif" font-size="11">` +
    `<text x="${lw / 2}" y="14">${esc(l)}</text><text x="${lw + mw / 2}" y="14">${esc(m)}</text></g></svg>\n`;
}

/** The colour of a last-verdict badge. */
export function verdictColour(verdict: Verdict | null): string {
  return verdict === null ? NO_DATA_COLOUR : VERDICT_COLOURS[verdict];
}

/** The colour of an uptime badge: green from 99.9 %, then lighter green, yellow, orange, red. */
export function uptimeColour(ratio: number | null): string {
  if (ratio === null) return NO_DATA_COLOUR;
  if (ratio >= 0.999) return '#2e7d32';
  if (ratio >= 0.99) return '#689f38';
  if (ratio >= 0.95) return '#c0a000';
  if (ratio >= 0.9) return '#ef6c00';
  return '#c62828';
}

/** An uptime as the badge shows it: 99.95 %, never 100 % unless nothing failed. */
export function uptimeText(ratio: number): string {
  if (ratio === 1) return '100%';
  const digits = ratio >= 0.99 ? 2 : 1;
  const floor = Math.floor(ratio * 100 * 10 ** digits) / 10 ** digits;
  return `${floor.toFixed(digits)}%`;
}
