// The digest's HTML part. Mail clients ignore <style> blocks and scripts, so every style is inline
// and nothing is loaded from elsewhere. Every value is redacted, cut to a bounded length and escaped.
// Any text fits a window: cells wrap long words where the client honours CSS; for clients that do
// not, long unbroken runs are shortened (shortenRuns) and given break opportunities (<wbr>), and
// headers keep their Chinese words whole so a long reason cannot squeeze the columns.
import { lagText, meteringCell, ratioText, readingCell, spreadText, verdictClass, yesNo } from '../present/cells.js';
import { clip, esc, escBreakable, shortenRuns } from '../present/escape.js';
import { labelsFor, type Labels, type Locale } from '../present/labels.js';
import { hourStrip } from '../present/strip.js';
import type { RoundSummary } from '../present/summary.js';
import { MAX_LISTED_MISMATCHES, type DigestData, type ServiceDay } from './build.js';
import { dateTime, timeOfDay } from '../util/time.js';
import { budgetHtml } from './budget-view.js';

export interface RenderOptions {
  locale: Locale;
  /** Secrets out (the exporter's Redactor). Applied before escaping, and to the whole result. */
  redact: (text: string) => string;
  /** The heading (the subject). */
  title: string;
  /** false: only the round table (`run-once --mail`, like the original script). Default true. */
  includeDay?: boolean;
}

const FAIL_ROW_STYLE = 'background-color:#f8d0d0;color:#a00000';
const BOX = 'border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top';
// break-word, not anywhere: a cell wraps a word only when it must, so "100.0%" stays whole.
const CELL = `${BOX};overflow-wrap:break-word;word-break:break-word`;
const HEAD = `${BOX};background-color:#e8e8e8;overflow-wrap:normal;word-break:keep-all`;
const TABLE = 'border-collapse:collapse;font-size:14px;margin:8px 0 16px 0;max-width:100%';
/** An attribute value or the <title>: escaped and cut, without the <wbr> break opportunities of text. */
const attr = (v: unknown) => esc(clip(String(v ?? '')));
/** A cell of free text (a reason): bounded width, so the other columns keep theirs. */
const LONG = 'max-width:36em';

function roundTable(round: RoundSummary, l: Labels, e: (v: unknown) => string): string {
  const head = [l.colName, l.colBefore, l.colAfter, l.colMetering, l.colCall].map((h) => `<th style="${HEAD}">${e(h)}</th>`).join('');
  const rows = round.rows
    .map((r) => {
      const cells = [r.name, readingCell(r.before, l.queryFailed, 'html'), readingCell(r.after, l.queryFailed, 'html'), meteringCell(r, l), yesNo(r.callOk, l, 'html')].map((c) => `<td style="${CELL}">${e(c)}</td>`).join('');
      // The failing-row marker is both a class (for tests and for clients that keep classes) and an inline style (for the rest).
      return r.failed ? `<tr class="fail" data-service="${attr(r.serviceId)}" style="${FAIL_ROW_STYLE}">${cells}</tr>` : `<tr class="${verdictClass(r.verdict)}" data-service="${attr(r.serviceId)}">${cells}</tr>`;
    })
    .join('\n');
  return `<table class="round" style="${TABLE}"><thead><tr>${head}</tr></thead>\n<tbody>\n${rows}\n</tbody></table>`;
}

function reasons(round: RoundSummary, l: Labels, e: (v: unknown) => string): string {
  const failed = round.rows.filter((r) => r.verdict !== 'ok' && r.verdict !== 'maintenance');
  // Services in a maintenance window are listed apart: not inspected is not failed.
  const held = round.rows.filter((r) => r.verdict === 'maintenance');
  const list = (title: string, rows: typeof failed, withVerdict: boolean) =>
    rows.length === 0 ? '' : `<p style="margin:0">${e(title)}:</p><ul style="margin-top:4px;max-width:60em">\n${rows.map((r) => `<li><b>${e(r.name)}</b>${withVerdict ? ` (${e(l.verdicts[r.verdict])})` : ''}: ${e(r.reason)}${withVerdict ? traceNote(r.traceId, l, e) : ''}</li>`).join('\n')}\n</ul>`;
  return list(l.failureReasons, failed, true) + list(l.verdicts.maintenance, held, false);
}

/** Beside a failure: the round's trace id, to find its calls in a tracing backend and the platform's own traces. */
function traceNote(traceId: string | undefined, l: Labels, e: (v: unknown) => string): string {
  return traceId ? ` <span class="trace" style="color:#555">(${e(l.trace)} <code>${e(traceId)}</code>)</span>` : '';
}

function dayTable(data: DigestData, l: Labels, e: (v: unknown) => string): string {
  const head = [l.colName, l.colRounds, l.colSuccess, l.colMismatches, l.colCountQueryFailures, l.colAuthFailures, l.colCallFailures, l.colLatency, l.colSettle, l.colUnexplained, l.colVerdicts]
    .map((h) => `<th style="${HEAD}">${e(h)}</th>`)
    .join('');
  const row = (s: ServiceDay) => {
    const strip = hourStrip(s.hours, {
      width: 240,
      height: 12,
      label: `${s.name}: ${s.ok}/${s.rounds}`,
      title: (hour, counts) => `${timeOfDay(data.timezone, data.dayStart + ((data.dayEnd - data.dayStart) * hour) / s.hours.length).slice(0, 5)} ${counts}`,
      name: (v) => l.verdicts[v],
    });
    const cells = [s.name, s.rounds, ratioText(s.successRatio), s.mismatches.length, s.countQueryFailures, s.authFailures, s.callFailures, spreadText(s.latency, true), spreadText(s.settle, false), s.unexplainedUnits]
      .map((c) => `<td style="${CELL}">${e(String(c))}</td>`)
      .join('');
    const bad = s.rounds > s.ok;
    return `<tr data-service="${attr(s.serviceId)}"${bad ? ' class="has-failures"' : ''}>${cells}<td style="${CELL}">${strip}</td></tr>`;
  };
  return `<table class="day" style="${TABLE}"><thead><tr>${head}</tr></thead>\n<tbody>\n${data.services.map(row).join('\n')}\n</tbody></table>`;
}

function mismatchTable(data: DigestData, l: Labels, e: (v: unknown) => string): string {
  if (data.mismatches.length === 0) return `<p>${e(l.mismatchTitle)}: ${e(l.none)}</p>`;
  // A trace column when the rounds have trace ids (history written before tracing has none).
  const traced = data.mismatches.some((m) => m.traceId);
  const head = [l.colTime, l.colService, l.colDirection, l.colSize, l.colExpected, l.colActual, ...(traced ? [l.trace] : [])].map((h) => `<th style="${HEAD}">${e(h)}</th>`).join('');
  const rows = data.mismatches
    .slice(0, MAX_LISTED_MISMATCHES)
    .map((m) => {
      const cells = [timeOfDay(data.timezone, m.at), m.name, m.direction === 'over' ? l.over : l.under, m.size, m.expected, m.delta, ...(traced ? [m.traceId ?? '–'] : [])].map((c) => `<td style="${CELL}">${e(String(c))}</td>`).join('');
      return `<tr class="mismatch" data-service="${attr(m.serviceId)}">${cells}</tr>`;
    })
    .join('\n');
  const more = data.mismatches.length - MAX_LISTED_MISMATCHES;
  return `<h3>${e(l.mismatchTitle)}</h3>\n<table class="mismatches" style="${TABLE}"><thead><tr>${head}</tr></thead>\n<tbody>\n${rows}\n</tbody></table>${more > 0 ? `\n<p>${e(l.more(more))}</p>` : ''}`;
}

function unexplainedTable(data: DigestData, l: Labels, e: (v: unknown) => string): string {
  if (data.unexplained.length === 0) return `<p>${e(l.unexplainedTitle)}: ${e(l.none)}</p>`;
  const head = [l.colTime, l.colService, l.colUnits, l.colKind, l.colExplanation].map((h) => `<th style="${HEAD}">${e(h)}</th>`).join('');
  const rows = data.unexplained
    .slice(0, MAX_LISTED_MISMATCHES)
    .map((u) => {
      const kind = u.kind === 'late_charge' ? `${l.lateCharge} ${lagText(u)}` : l.unexplainedKind;
      const cells = [timeOfDay(data.timezone, u.at), u.name, u.units, kind].map((c) => `<td style="${CELL}">${e(String(c))}</td>`).join('') + `<td style="${CELL};overflow-wrap:anywhere"><div style="${LONG}">${e(u.reason)}</div></td>`;
      return `<tr class="${u.kind === 'late_charge' ? 'late-charge' : 'unexplained'}" data-service="${attr(u.serviceId)}">${cells}</tr>`;
    })
    .join('\n');
  const more = data.unexplained.length - MAX_LISTED_MISMATCHES;
  return `<h3>${e(l.unexplainedTitle)}</h3>\n<table class="unexplained" style="${TABLE}"><thead><tr>${head}</tr></thead>\n<tbody>\n${rows}\n</tbody></table>${more > 0 ? `\n<p>${e(l.more(more))}</p>` : ''}`;
}

export function renderDigestHtml(data: DigestData, opts: RenderOptions): string {
  const l = labelsFor(opts.locale);
  // Redact first, then cut (a cut secret would leak its first characters), then escape.
  const e = (v: unknown) => escBreakable(clip(shortenRuns(opts.redact(String(v ?? '')))));
  const parts: string[] = [`<h2 style="font-size:18px">${e(opts.title)}</h2>`];
  if (data.latest) {
    const r = data.latest;
    parts.push(`<p class="summary" style="font-size:15px"><b>${e(l.summary(r.run, r.ok, r.failed, r.other, r.maintenance))}</b></p>`);
    if (r.aborted > 0) parts.push(`<p class="aborted" style="margin:0">${e(l.abortedServices(r.aborted))}</p>`);
    parts.push(`<p style="color:#555;margin:0">${e(l.latestRound)}: ${e(dateTime(data.timezone, r.finishedAt))}</p>`);
    parts.push(roundTable(r, l, e));
    parts.push(reasons(r, l, e));
  } else {
    parts.push(`<p>${e(l.noRounds)}</p>`);
  }
  if (opts.includeDay !== false && data.latest) {
    parts.push(`<h3>${e(l.theDay)} ${e(data.day)}</h3>`);
    parts.push(`<p class="day-summary">${e(l.dayLine(data.rounds, data.failedRounds))}${data.abortedRounds > 0 ? e(`; ${l.abortedRounds(data.abortedRounds)}`) : ''}</p>`);
    parts.push(dayTable(data, l, e));
    parts.push(`<p style="color:#555;font-size:12px">${e(l.legend)}</p>`);
    parts.push(mismatchTable(data, l, e));
    parts.push(unexplainedTable(data, l, e));
    parts.push(budgetHtml(data.budgets, opts.locale, data.timezone, e));
  }
  parts.push(`<p style="color:#777;font-size:12px">${e(l.timezoneNote(data.timezone))} patrol_exporter</p>`);
  const lang = opts.locale === 'en' ? 'en' : 'zh-CN';
  const html = `<!doctype html>
<html lang="${lang}"><head><meta charset="utf-8"><title>${attr(opts.redact(opts.title))}</title></head>
<body style="font-family:Arial,'Microsoft YaHei',sans-serif;color:#222;overflow-wrap:anywhere;word-break:break-word">
${parts.filter((p) => p !== '').join('\n')}
</body></html>
`;
  // Belt and braces: a secret that reached the text some other way is still taken out.
  return opts.redact(html);
}
