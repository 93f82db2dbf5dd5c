// The exposition text of what a service's result says (patrol_service_success, the call durations,
// the metering gauges…), written by the thread that has the results. With rounds in the worker
// thread that is the worker: it writes a round's lines into one buffer, handed over without a copy
// when the round ends, and the serving thread's render of /metrics joins those bytes instead of
// writing the same lines itself (12 MB less garbage per round in that thread at 5,000 services;
// BENCHMARKS.md). This module has no prom-client: the worker loads it.
import type { ServiceResult } from './types.js';

/** Label value escaping of the text format: backslash, double quote, newline. */
export function esc(value: string): string {
  return /["\\\n]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : value;
}

export function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** The families written from a service's result alone (metrics.ts places each in the exposition's order). */
export const RESULT_FAMILIES = [
  'patrol_service_success',
  'patrol_call_success',
  'patrol_call_duration_seconds',
  'patrol_auth_check_success',
  'patrol_usage_calls',
  'patrol_count_query_success',
  'patrol_metering_delta',
  'patrol_metering_expected_delta',
  'patrol_metering_success',
  'patrol_metering_settle_seconds',
  'patrol_metering_unexplained_delta',
] as const;

/** One result's lines, one string per family in RESULT_FAMILIES order ('' where it has none). */
function linesOf(s: ServiceResult): string[] {
  // Not inspected (a maintenance window): every value of the round is unknown, so no sample;
  // patrol_service_maintenance says why.
  if (s.verdict === 'maintenance') return RESULT_FAMILIES.map(() => '');
  const sid = `{service_id="${esc(s.serviceId)}"`;
  // Microseconds are all the precision a call duration has; more digits only make the body bigger.
  let durations = '';
  for (const call of s.calls) durations += `patrol_call_duration_seconds${sid},call="${esc(call.name)}"} ${num(Math.round(call.durationSeconds * 1e6) / 1e6)}\n`;
  let auth = '';
  for (const a of s.authChecks) {
    if (a.outcome !== 'error') auth += `patrol_auth_check_success${sid},check="${esc(a.name)}"} ${a.outcome === 'rejected' ? 1 : 0}\n`;
  }
  let usage = '';
  if (s.before?.ok) usage += `patrol_usage_calls${sid},phase="before"} ${s.before.value}\n`;
  if (s.after?.ok) usage += `patrol_usage_calls${sid},phase="after"} ${s.after.value}\n`;
  return [
    `patrol_service_success${sid}} ${s.verdict === 'ok' ? 1 : 0}\n`,
    `patrol_call_success${sid}} ${s.callOk ? 1 : 0}\n`,
    durations,
    auth,
    usage,
    `patrol_count_query_success${sid}} ${s.countQueryOk ? 1 : 0}\n`,
    s.delta !== null ? `patrol_metering_delta${sid}} ${s.delta}\n` : '',
    `patrol_metering_expected_delta${sid}} ${s.expectedDelta}\n`,
    s.meteringOk !== null ? `patrol_metering_success${sid}} ${s.meteringOk ? 1 : 0}\n` : '',
    s.settleSeconds !== null ? `patrol_metering_settle_seconds${sid}} ${num(s.settleSeconds)}\n` : '',
    // A late charge is the previous round's own call, charged after that round stopped waiting:
    // nobody else used the app id, so 0 here (the alert on this gauge pages in one round); its
    // units still count in patrol_metering_unexplained_units_total, and the history names them.
    s.unexplained ? `patrol_metering_unexplained_delta${sid}} ${s.unexplained.kind === 'unexplained' ? s.unexplained.units : 0}\n` : '',
  ];
}

/**
 * Results' lines in one buffer, family after family: within a family, result after result, so the
 * round's lines of one family are one run of bytes. `ends[f * n + i]` is where result i's lines of
 * family f end (n results; each piece starts where the one before it ends). Both arrays own their
 * memory, so they can be transferred to another thread.
 */
export interface ResultLines {
  bytes: Uint8Array;
  ends: Uint32Array;
}

export function resultLines(results: readonly ServiceResult[]): ResultLines {
  const n = results.length;
  // Each result's lines are made twice, once to size the buffer and once to fill it, and dropped at
  // once: a round's strings are never alive together at the end of a round, when the round thread's
  // heap is fullest (a second pass costs ~12 ms at 5,000 services).
  const sizes = new Uint32Array(RESULT_FAMILIES.length * n);
  results.forEach((s, i) => linesOf(s).forEach((l, f) => (sizes[f * n + i] = Buffer.byteLength(l))));
  const ends = new Uint32Array(sizes.length);
  sizes.reduce((at, size, k) => (ends[k] = at + size), 0);
  // Not from Buffer's shared pool: a pooled slice cannot be transferred.
  const bytes = Buffer.allocUnsafeSlow(ends.at(-1) ?? 0);
  results.forEach((s, i) => linesOf(s).forEach((l, f) => bytes.write(l, ends[f * n + i] - sizes[f * n + i])));
  return { bytes, ends };
}

/** One result's place in a round's lines. */
export interface LinesRef {
  lines: ResultLines;
  index: number;
}

/** The byte range of one result's lines of family `f` (an index into RESULT_FAMILIES). */
export function rangeOf({ lines, index }: LinesRef, f: number): [start: number, end: number] {
  const n = lines.ends.length / RESULT_FAMILIES.length;
  const at = f * n + index;
  return [at === 0 ? 0 : lines.ends[at - 1], lines.ends[at]];
}
