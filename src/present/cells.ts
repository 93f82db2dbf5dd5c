// One way to render each kind of cell, for the pages, the email's two parts and the terminal
// table. What differs between them is passed in (the words of a locale, HTML or plain text), so a
// counter reading, a yes/no or a ratio reads the same everywhere.
import { VERDICT_OUTCOME, type CounterReading, type Verdict } from '../types.js';
import type { Labels } from './labels.js';
import type { TableReading, TableRow } from './summary.js';

/** Where a cell is shown: HTML (the pages, the email) or plain text (a terminal, the email's text part). */
export type Medium = 'html' | 'plain';

/** An empty cell: an en dash in HTML, a hyphen in plain text (a terminal may lack the dash). */
const EMPTY: Record<Medium, string> = { html: '–', plain: '-' };

/**
 * A counter reading: its value; `failed` when the read failed, followed by the read's reason where
 * `withReason` asks for it and the reading carries one; an empty cell when there was no read.
 */
export function readingCell(r: TableReading | CounterReading | undefined, failed: string, medium: Medium, withReason = false): string {
  if (!r) return EMPTY[medium];
  if (r.ok) return String(r.value);
  return withReason && 'reason' in r ? `${failed}: ${r.reason}` : failed;
}

/** A yes/no in the locale's words; an empty cell when it was not judged. */
export function yesNo(v: boolean | null, l: Pick<Labels, 'yes' | 'no'>, medium: Medium): string {
  return v === null ? EMPTY[medium] : v ? l.yes : l.no;
}

/** The 扣量是否成功 cell: not judged is told apart from a failed count query. */
export function meteringCell(row: Pick<TableRow, 'meteringOk' | 'countQueryOk'>, l: Labels): string {
  if (row.meteringOk === null) return row.countQueryOk ? l.notJudged : l.queryFailed;
  return row.meteringOk ? l.yes : l.no;
}

const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(3));

/** Percentiles of a day: p50 / p95 / max, or p50 / max. */
export const spreadText = (s: { p50: number; p95: number; max: number } | null, withP95: boolean) =>
  s === null ? '–' : withP95 ? `${num(s.p50)} / ${num(s.p95)} / ${num(s.max)}` : `${num(s.p50)} / ${num(s.max)}`;

export const ratioText = (r: number | null) => (r === null ? '–' : `${(r * 100).toFixed(1)}%`);

/** A late charge's metering lag, bounded by the reads. */
export const lagText = (u: { lagSeconds: { min: number; max: number } | null }) => (u.lagSeconds ? `${u.lagSeconds.min.toFixed(1)}–${u.lagSeconds.max.toFixed(1)} s` : '');

/** The class of a row by its verdict: red for a failure, grey for neither. */
export function verdictClass(v: Verdict): 'ok' | 'fail' | 'other' {
  const outcome = VERDICT_OUTCOME[v];
  return outcome === 'failed' ? 'fail' : outcome;
}
