// The digest's plain-text part: the same content as the HTML part, in aligned columns (CJK
// characters take two columns in a monospace font).
import { lagText, meteringCell, ratioText, readingCell, spreadText, yesNo } from '../present/cells.js';
import { clip, flat } from '../present/escape.js';
import { labelsFor } from '../present/labels.js';
import { MAX_LISTED_MISMATCHES, type DigestData } from './build.js';
import type { RenderOptions } from './html.js';
import { dateTime, timeOfDay } from '../util/time.js';
import { displayWidth as width } from '../util/width.js';
import { budgetText } from './budget-view.js';

type Cell = (text: string, max: number) => string;

function table(cell: Cell, header: string[], rows: string[][], marks?: string[]): string[] {
  const cells = [header, ...rows].map((r) => r.map((c) => cell(c, 80)));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => width(r[i]))));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i] - width(c)))).join('  ').trimEnd();
  return cells.map((r, i) => `${i === 0 ? '  ' : (marks?.[i - 1] ?? '  ')}${line(r)}`);
}

export function renderDigestText(data: DigestData, opts: RenderOptions): string {
  const l = labelsFor(opts.locale);
  // Secrets out before anything is cut (a cut secret would leak its first characters).
  const cell: Cell = (text, max) => flat(clip(opts.redact(text), max));
  const out: string[] = [cell(opts.title, 300), ''];
  if (data.latest) {
    const r = data.latest;
    out.push(l.summary(r.run, r.ok, r.failed, r.other, r.maintenance));
    if (r.aborted > 0) out.push(l.abortedServices(r.aborted));
    out.push(`${l.latestRound}: ${dateTime(data.timezone, r.finishedAt)}`, '');
    // A failing row is marked with "! " at the start of its line: plain text has no red.
    out.push(
      ...table(
        cell,
        [l.colName, l.colBefore, l.colAfter, l.colMetering, l.colCall],
        r.rows.map((row) => [row.name, readingCell(row.before, l.queryFailed, 'plain'), readingCell(row.after, l.queryFailed, 'plain'), meteringCell(row, l), yesNo(row.callOk, l, 'plain')]),
        r.rows.map((row) => (row.failed ? '! ' : '  ')),
      ),
    );
    const failed = r.rows.filter((row) => row.verdict !== 'ok' && row.verdict !== 'maintenance');
    if (failed.length > 0) {
      out.push('', `${l.failureReasons}:`);
      for (const row of failed) out.push(`  - ${cell(row.name, 300)} (${l.verdicts[row.verdict]}): ${cell(row.reason, 300)}${row.traceId ? ` (${l.trace} ${cell(row.traceId, 40)})` : ''}`);
    }
    // Services in a maintenance window, apart from the failures.
    const held = r.rows.filter((row) => row.verdict === 'maintenance');
    if (held.length > 0) {
      out.push('', `${l.verdicts.maintenance}:`);
      for (const row of held) out.push(`  - ${cell(row.name, 300)}: ${cell(row.reason, 300)}`);
    }
  } else {
    out.push(l.noRounds);
  }
  if (opts.includeDay !== false && data.latest) {
    out.push('', `${l.theDay} ${data.day}: ${l.dayLine(data.rounds, data.failedRounds)}${data.abortedRounds > 0 ? `; ${l.abortedRounds(data.abortedRounds)}` : ''}`, '');
    out.push(
      ...table(
        cell,
        [l.colName, l.colRounds, l.colSuccess, l.colMismatches, l.colCountQueryFailures, l.colAuthFailures, l.colCallFailures, l.colLatency, l.colSettle, l.colUnexplained],
        data.services.map((s) => [s.name, String(s.rounds), ratioText(s.successRatio), String(s.mismatches.length), String(s.countQueryFailures), String(s.authFailures), String(s.callFailures), spreadText(s.latency, true), spreadText(s.settle, false), String(s.unexplainedUnits)]),
      ),
    );
    out.push('', `${l.mismatchTitle}:${data.mismatches.length === 0 ? ` ${l.none}` : ''}`);
    if (data.mismatches.length > 0) {
      const traced = data.mismatches.some((m) => m.traceId);
      out.push(
        ...table(
          cell,
          [l.colTime, l.colService, l.colDirection, l.colSize, l.colExpected, l.colActual, ...(traced ? [l.trace] : [])],
          data.mismatches
            .slice(0, MAX_LISTED_MISMATCHES)
            .map((m) => [timeOfDay(data.timezone, m.at), m.name, m.direction === 'over' ? l.over : l.under, String(m.size), String(m.expected), String(m.delta), ...(traced ? [m.traceId ?? '–'] : [])]),
        ),
      );
      if (data.mismatches.length > MAX_LISTED_MISMATCHES) out.push(l.more(data.mismatches.length - MAX_LISTED_MISMATCHES));
    }
    out.push('', `${l.unexplainedTitle}:${data.unexplained.length === 0 ? ` ${l.none}` : ''}`);
    if (data.unexplained.length > 0) {
      out.push(
        ...table(
          cell,
          [l.colTime, l.colService, l.colUnits, l.colKind, l.colExplanation],
          data.unexplained
            .slice(0, MAX_LISTED_MISMATCHES)
            .map((u) => [timeOfDay(data.timezone, u.at), u.name, String(u.units), u.kind === 'late_charge' ? `${l.lateCharge} ${lagText(u)}` : l.unexplainedKind, u.reason]),
        ),
      );
      if (data.unexplained.length > MAX_LISTED_MISMATCHES) out.push(l.more(data.unexplained.length - MAX_LISTED_MISMATCHES));
    }
    out.push(...budgetText(data.budgets, opts.locale, data.timezone, cell));
  }
  out.push('', l.timezoneNote(data.timezone), '');
  return opts.redact(out.join('\n'));
}
