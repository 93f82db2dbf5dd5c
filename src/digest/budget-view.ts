// The error budget table of the digest (HTML and plain text), under the day's tables. Styles are
// inline like the rest of the email; every value is escaped by the caller's `e` (HTML) or `cell`.
import { durationText } from '../config/slo.js';
import { esc } from '../present/escape.js';
import type { Locale } from '../present/labels.js';
import { sloLabelsFor, type SloLabels } from '../present/slo-labels.js';
import { displayWidth } from '../util/width.js';
import { dayIn } from '../util/time.js';
import type { ServiceBudget } from './budget.js';

const BOX = 'border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top';
const HEAD = `${BOX};background-color:#e8e8e8;overflow-wrap:normal;word-break:keep-all`;
const TABLE = 'border-collapse:collapse;font-size:14px;margin:8px 0 16px 0;max-width:100%';
const SPENT_STYLE = 'background-color:#f8d0d0;color:#a00000';
const LOW_STYLE = 'background-color:#fff3c4';

/** Budget left as a percentage, floored to a tenth (a budget never looks fuller than it is). */
export function remainingText(b: ServiceBudget, l: SloLabels): string {
  if (b.remaining === null) return l.noEvents;
  const pct = Math.floor(b.remaining * 1000) / 10;
  return b.remaining <= 0 ? `${pct.toFixed(1)}% (${l.exhausted})` : `${pct.toFixed(1)}%`;
}

function cells(b: ServiceBudget, l: SloLabels, timezone: string): string[] {
  const window = `${durationText(b.windowMs)}${b.since !== null ? ` ${l.since(dayIn(timezone, b.since))}` : ''}`;
  return [b.name, b.sli === 'availability' ? l.availability : l.metering, `${b.objective}%`, window, l.goodOf(b.good, b.total), remainingText(b, l)];
}

function header(l: SloLabels): string[] {
  return [l.colService, l.colSli, l.colObjective, l.colWindow, l.colGood, l.colBudgetLeft];
}

export function budgetHtml(budgets: ServiceBudget[] | undefined, locale: Locale, timezone: string, e: (v: unknown) => string): string {
  if (!budgets || budgets.length === 0) return '';
  const l = sloLabelsFor(locale);
  const head = header(l).map((h) => `<th style="${HEAD}">${e(h)}</th>`).join('');
  const rows = budgets
    .map((b) => {
      const state = b.remaining === null ? 'no-data' : b.remaining <= 0 ? 'spent' : b.remaining < 0.25 ? 'low' : 'ok';
      const style = state === 'spent' ? SPENT_STYLE : state === 'low' ? LOW_STYLE : '';
      const tds = cells(b, l, timezone).map((c) => `<td style="${BOX}">${e(c)}</td>`).join('');
      // An attribute is escaped whole (the text escaping may add <wbr> to a long run).
      return `<tr class="budget ${state}" data-service="${esc(b.serviceId)}" data-sli="${b.sli}"${style ? ` style="${style}"` : ''}>${tds}</tr>`;
    })
    .join('\n');
  return `<h3>${e(l.budgetTitle)}</h3>\n<table class="budgets" style="${TABLE}"><thead><tr>${head}</tr></thead>\n<tbody>\n${rows}\n</tbody></table>\n<p style="color:#555;font-size:12px">${e(l.budgetNote)}</p>`;
}

export function budgetText(budgets: ServiceBudget[] | undefined, locale: Locale, timezone: string, cell: (text: string, max: number) => string): string[] {
  if (!budgets || budgets.length === 0) return [];
  const l = sloLabelsFor(locale);
  const rows = [header(l), ...budgets.map((b) => cells(b, l, timezone))].map((r) => r.map((c) => cell(c, 80)));
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => displayWidth(r[i]))));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i] - displayWidth(c)))).join('  ').trimEnd();
  // A spent budget is marked "! " like a failing row of the round table.
  const marks = ['  ', ...budgets.map((b) => (b.remaining !== null && b.remaining <= 0 ? '! ' : '  '))];
  return ['', `${l.budgetTitle}:`, ...rows.map((r, i) => `${marks[i]}${line(r)}`), l.budgetNote];
}
