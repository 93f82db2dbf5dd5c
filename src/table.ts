// The round as a terminal table, with the original email's columns plus what it lacked.
import { readingCell, yesNo } from './present/cells.js';
import { labelsFor } from './present/labels.js';
import type { RoundResult } from './types.js';
import { displayWidth as width } from './util/width.js';

const pad = (text: string, w: number) => text + ' '.repeat(Math.max(0, w - width(text)));
// The table's headers are English, and so are its words.
const en = labelsFor('en');

export function renderTable(round: RoundResult): string {
  const header = ['service', 'before', 'after', 'expected', 'delta', 'metering ok', 'call ok', 'auth ok', 'verdict', 'reason'];
  const rows = round.services.map((s) => [
    `${s.name} (${s.serviceId})`,
    readingCell(s.before, 'failed', 'plain'),
    readingCell(s.after, 'failed', 'plain'),
    String(s.expectedDelta),
    s.delta === null ? '-' : String(s.delta),
    yesNo(s.meteringOk, en, 'plain'),
    yesNo(s.callOk, en, 'plain'),
    yesNo(s.authOk, en, 'plain'),
    s.verdict,
    s.reason.length > 160 ? `${s.reason.slice(0, 160)}…` : s.reason,
  ]);
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i]))));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : pad(c, widths[i]))).join('  ').trimEnd();
  const ok = round.services.filter((s) => s.verdict === 'ok').length;
  return [
    line(header),
    ...rows.map(line),
    '',
    `执行 ${round.services.length}  成功 ${ok}  失败 ${round.services.length - ok}  (${round.durationSeconds.toFixed(1)} s${round.aborted ? ', aborted' : ''})`,
    '',
  ].join('\n');
}
