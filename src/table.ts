// The round as a terminal table, with the original email's columns plus what it lacked.
import type { RoundResult, ServiceResult } from './types.js';

/** Columns a character takes in a terminal: CJK and full-width forms take two. */
function width(text: string): number {
  let w = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    w += (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf) || (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) || (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) || (c >= 0xffe0 && c <= 0xffe6) ? 2 : 1;
  }
  return w;
}

const pad = (text: string, w: number) => text + ' '.repeat(Math.max(0, w - width(text)));
const yesNo = (v: boolean | null) => (v === null ? '-' : v ? 'yes' : 'no');
const reading = (r: ServiceResult['before']) => (!r ? '-' : r.ok ? String(r.value) : 'failed');

export function renderTable(round: RoundResult): string {
  const header = ['service', 'before', 'after', 'expected', 'delta', 'metering ok', 'call ok', 'auth ok', 'verdict', 'reason'];
  const rows = round.services.map((s) => [
    `${s.name} (${s.serviceId})`,
    reading(s.before),
    reading(s.after),
    String(s.expectedDelta),
    s.delta === null ? '-' : String(s.delta),
    yesNo(s.meteringOk),
    yesNo(s.callOk),
    yesNo(s.authOk),
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
