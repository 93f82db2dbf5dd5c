// RoundResult fixtures for the history, digest and page tests: plain objects shaped exactly like
// what the inspector produces, so a test can build a day of history without waiting for rounds.
import assert from 'node:assert/strict';
import { judge } from '../../src/engine/verdict.js';
import type { AbortedService, AuthCheckResult, CallResult, CounterReading, RoundResult, ServiceResult, UnexplainedUsage, Verdict } from '../../src/types.js';

let seq = 0;

export function call(name: string, seconds: number, ok = true, extra: Partial<CallResult> = {}): CallResult {
  return {
    name,
    kind: 'http',
    ok,
    durationSeconds: seconds,
    status: ok ? 200 : 500,
    reason: ok ? '' : 'status 500, expected 200',
    failures: ok ? [] : [{ check: 'status', expected: '200', actual: '500' }],
    units: ok ? 1 : 0,
    extracted: {},
    ...extra,
  };
}

export interface ServiceSpec {
  id: string;
  name?: string;
  verdict?: Verdict;
  before?: number | null;
  /** Default: before + expected (+1 for an over-charge mismatch). */
  after?: number | null;
  expected?: number;
  settle?: number | null;
  calls?: CallResult[];
  reason?: string;
  authOk?: boolean | null;
  /** Units that appeared since the previous round (0: compared, nothing moved; absent: not compared). */
  unexplained?: { units: number; kind?: UnexplainedUsage['kind']; lag?: { min: number; max: number } };
}

/**
 * A service result for `at`. The spec's verdict only sets up what the platform did (a call that
 * failed, a counter read that failed, a bad credential accepted, a counter that moved one too many, a
 * day that changed); the verdict and every flag then come from the engine's own judge(), and the
 * fixture fails if judge() does not reach the verdict asked for. So a test built on these cannot
 * agree with a consumer that reads the wrong flag.
 */
export function svc(spec: ServiceSpec, at: number): ServiceResult {
  const wanted = spec.verdict ?? 'ok';
  const calls = spec.calls ?? [call('c1', 0.2, wanted !== 'call_failed')];
  const units = calls.reduce((sum, c) => sum + c.units, 0);
  const expected = spec.expected ?? units;
  const before = spec.before === undefined ? 100 : spec.before;
  const after = spec.after !== undefined ? spec.after : before === null ? null : before + expected + (wanted === 'metering_mismatch' ? 1 : 0);
  // The calls' units are what judge() expects: a spec that sets `expected` apart scales the last call's.
  const judgedCalls = expected === units || calls.length === 0 ? calls : calls.map((c, i) => (i === calls.length - 1 ? { ...c, units: c.units + expected - units } : c));
  const day = '2024-01-01';
  const beforeReading: CounterReading | null = before === null ? null : { ok: true, value: before, at, day };
  const afterReading: CounterReading | null =
    wanted === 'count_query_failed'
      ? { ok: false, reason: 'HTTP 500', at: at + 900 }
      : after === null
        ? null
        : { ok: true, value: after, at: at + 900, day: wanted === 'indeterminate' ? '2024-01-02' : day };
  const authChecks: AuthCheckResult[] =
    spec.authOk === null
      ? []
      : [{ name: 'wrong_key', outcome: wanted === 'auth_failed' || spec.authOk === false ? 'accepted' : 'rejected', durationSeconds: 0.05, status: wanted === 'auth_failed' ? 200 : 401, reason: wanted === 'auth_failed' ? 'bad credential accepted: status: expected 401, got 200' : '' }];
  const j = judge({ before: beforeReading, after: afterReading, calls: judgedCalls, authChecks, mode: 'exact' });
  assert.equal(j.verdict, wanted, `fixture ${spec.id}: the inputs give ${j.verdict} (${j.reason}), not ${wanted}`);
  return {
    serviceId: spec.id,
    name: spec.name ?? spec.id,
    appId: 'app0001',
    verdict: j.verdict,
    reason: spec.reason ?? j.reason,
    startedAt: at,
    finishedAt: at + 1000,
    before: beforeReading,
    after: afterReading,
    delta: j.delta,
    expectedDelta: j.expectedDelta,
    meteringMode: 'exact',
    meteringOk: j.meteringOk,
    callOk: j.callOk,
    authOk: j.authOk,
    countQueryOk: j.countQueryOk,
    settleSeconds: spec.settle === undefined ? 2 : spec.settle,
    calls: judgedCalls,
    authChecks,
    ...(spec.unexplained && before !== null ? { unexplained: unexplainedUsage(spec.unexplained, before, at) } : {}),
  };
}

function unexplainedUsage(u: NonNullable<ServiceSpec['unexplained']>, first: number, at: number): UnexplainedUsage {
  const kind = u.kind ?? (u.units === 0 ? 'none' : 'unexplained');
  return {
    units: u.units,
    kind,
    since: { serviceId: 'previous', value: first - u.units, at: at - 60_000 },
    value: first,
    at,
    ...(u.lag ? { lagSeconds: u.lag } : {}),
    reason: kind === 'none' ? '' : kind === 'late_charge' ? `late charge of ${u.units}` : `${u.units} units nobody made`,
  };
}

export function round(at: number, specs: ServiceSpec[], id = `round-${++seq}`, abortedIds: string[] = []): RoundResult {
  const aborted: AbortedService[] = abortedIds.map((serviceId) => ({ serviceId, name: serviceId, appId: 'app0001', startedAt: at, reason: 'not finished: shutdown' }));
  return {
    id,
    trigger: 'schedule',
    startedAt: at,
    finishedAt: at + 2000,
    durationSeconds: 2,
    aborted: aborted.length > 0,
    services: specs.map((s) => svc(s, at)),
    ...(aborted.length > 0 ? { abortedServices: aborted } : {}),
  };
}

/** Unix ms of a wall-clock time in Asia/Shanghai (UTC+8, no DST). */
export function shanghai(day: string, time: string): number {
  return Date.parse(`${day}T${time}+08:00`);
}

export const DAY = '2024-05-01';

/**
 * A day of three rounds, three services:
 *   ocr: ok every time (latency 0.1/0.2/0.3 s, settle 1/2/3 s);
 *   nlp: ok, then over-charged by 1 at 10:00, then a failed call;
 *   tts: a failed count query, then a bad credential accepted, then under-charged by 1 at 16:00.
 */
export function dayOfHistory(): RoundResult[] {
  return [
    round(shanghai(DAY, '08:00:00'), [
      { id: 'ocr', name: '文字识别', before: 10, calls: [call('recognise', 0.1)], settle: 1 },
      { id: 'nlp', name: '自然语言处理', before: 20 },
      { id: 'tts', name: '语音合成', verdict: 'count_query_failed', before: 30, settle: null },
    ]),
    round(shanghai(DAY, '10:00:00'), [
      { id: 'ocr', name: '文字识别', before: 11, calls: [call('recognise', 0.2)], settle: 2 },
      { id: 'nlp', name: '自然语言处理', verdict: 'metering_mismatch', before: 21 },
      { id: 'tts', name: '语音合成', verdict: 'auth_failed', before: 31 },
    ]),
    round(shanghai(DAY, '16:00:00'), [
      { id: 'ocr', name: '文字识别', before: 12, calls: [call('recognise', 0.3)], settle: 3 },
      { id: 'nlp', name: '自然语言处理', verdict: 'call_failed', before: 24, after: 24, expected: 0, reason: 'call analyse: status: expected 200, got 500' },
      { id: 'tts', name: '语音合成', verdict: 'metering_mismatch', before: 40, after: 40, expected: 1, settle: null },
    ]),
  ];
}

/** The rows of an HTML table with the given class: each row's class and its cells' text. */
export function tableRows(html: string, cls: string): { cls: string; cells: string[] }[] {
  // The hourly strip is a table inside a cell: left out, so the outer table's rows stay whole.
  const table = new RegExp(`<table class="${cls}"[^>]*>([\\s\\S]*?)</table>`).exec(html.replace(/<table class="strip"[\s\S]*?<\/table>/g, ''));
  assert.ok(table, `a table of class ${cls}`);
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(table[1])![1];
  return [...body.matchAll(/<tr([^>]*)>([\s\S]*?)<\/tr>/g)].map((m) => ({
    cls: /class="([^"]*)"/.exec(m[1])?.[1] ?? '',
    cells: [...m[2].matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => c[1].replace(/<svg[\s\S]*<\/svg>/, '').trim()),
  }));
}


/**
 * What the history keeps of a verdict that was ok: every figure, call names, kinds, statuses and
 * durations, but not the excerpts, expectations or auth check details (kept whole for failures).
 */
export function stored(s: ServiceResult): ServiceResult {
  if (s.verdict !== 'ok') return s;
  const reading = (r: ServiceResult['before'], at: number): ServiceResult['before'] => (r === null ? null : r.ok ? { ok: true, value: r.value, at, day: '' } : { ok: false, reason: r.reason, at });
  // The baseline lives in its own table; of the comparison only a finding (units > 0) is kept.
  const { baseline: _baseline, unexplained, ...rest } = s;
  return {
    ...rest,
    ...(unexplained && unexplained.units > 0 ? { unexplained } : {}),
    before: reading(s.before, s.startedAt),
    after: reading(s.after, s.finishedAt),
    calls: s.calls.map((c) => ({ name: c.name, kind: c.kind, ok: c.ok, durationSeconds: c.durationSeconds, ...(c.status !== undefined ? { status: c.status } : {}), reason: c.reason, failures: [], units: 0, extracted: {} })),
    authChecks: [],
  };
}

/** A round as read back from the file by another process (or after a restart). */
export function storedRound(r: RoundResult): RoundResult {
  return { ...r, services: r.services.map(stored) };
}
