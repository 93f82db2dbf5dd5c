// The day's figures (src/digest/build.ts) from plain round results: what counts as a failure, the
// per-service counts, mismatches, usage between rounds, percentiles, the hourly strip and the
// latest round's table. No store, no mail: the same figures from SQLite are in store-figures.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDigest, hourly, hourOf, HOURS, isFailure, spread, summariseRound, unexplainedOf } from '../src/digest/build.js';
import { dayRange } from '../src/util/time.js';
import type { CallResult, RoundResult, ServiceResult, UnexplainedUsage, Verdict } from '../src/types.js';

const DAY = '2024-05-01';
const TZ = 'UTC';
const { start: D0 } = dayRange(DAY, TZ);
const H = 3_600_000;

const callOf = (name: string, seconds: number, ok = true): CallResult => ({ name, kind: 'http', ok, durationSeconds: seconds, reason: ok ? '' : 'status 500', failures: [], units: ok ? 1 : 0, extracted: {} });
const usage = (units: number, at: number, kind: UnexplainedUsage['kind'] = 'unexplained', lag?: { min: number; max: number }): UnexplainedUsage => ({
  units,
  kind,
  since: { serviceId: 'x', value: 0, at: at - 60_000 },
  value: units,
  at,
  ...(lag ? { lagSeconds: lag } : {}),
  reason: `${kind} ${units}`,
});

function svc(id: string, at: number, over: Partial<ServiceResult> = {}): ServiceResult {
  return {
    serviceId: id,
    name: `Name ${id}`,
    appId: 'app',
    verdict: 'ok',
    reason: '',
    startedAt: at,
    finishedAt: at + 1000,
    before: { ok: true, value: 10, at, day: DAY },
    after: { ok: true, value: 11, at: at + 900, day: DAY },
    delta: 1,
    expectedDelta: 1,
    meteringMode: 'exact',
    meteringOk: true,
    callOk: true,
    authOk: true,
    countQueryOk: true,
    settleSeconds: 2,
    calls: [callOf('c', 0.5)],
    authChecks: [],
    ...over,
  };
}

function round(id: string, at: number, services: ServiceResult[], over: Partial<RoundResult> = {}): RoundResult {
  return { id, trigger: 'schedule', startedAt: at, finishedAt: at + 5000, durationSeconds: 5, aborted: false, services, ...over };
}

test('isFailure: every verdict but ok and indeterminate', () => {
  const all: [Verdict, boolean][] = [['ok', false], ['indeterminate', false], ['call_failed', true], ['count_query_failed', true], ['metering_mismatch', true], ['auth_failed', true]];
  for (const [v, failed] of all) assert.equal(isFailure(v), failed, v);
});

test('hourOf: the bucket of an instant, clamped to the day', () => {
  const end = D0 + 24 * H;
  assert.equal(HOURS, 24);
  assert.equal(hourOf(D0, D0, end), 0);
  assert.equal(hourOf(D0 + H - 1, D0, end), 0);
  assert.equal(hourOf(D0 + H, D0, end), 1);
  assert.equal(hourOf(D0 + 5.5 * H, D0, end), 5);
  assert.equal(hourOf(end - 1, D0, end), 23);
  assert.equal(hourOf(end + H, D0, end), 23);
  assert.equal(hourOf(D0 - H, D0, end), 0);
  // A 25-hour day (a clock going back): 24 buckets still, each a little longer.
  assert.equal(hourOf(D0 + 24 * H, D0, D0 + 25 * H), 23);
  assert.equal(hourOf(D0 + 12.5 * H, D0, D0 + 25 * H), 12);
});

test('hourly: rounds counted per verdict in their hour', () => {
  const end = D0 + 24 * H;
  const hours = hourly([{ at: D0 + 10, verdict: 'ok' }, { at: D0 + 20, verdict: 'ok' }, { at: D0 + 30, verdict: 'call_failed' }, { at: D0 + 23.5 * H, verdict: 'indeterminate' }], D0, end);
  assert.equal(hours.length, 24);
  assert.deepEqual(hours[0], { ok: 2, call_failed: 1 });
  assert.deepEqual(hours[23], { indeterminate: 1 });
  assert.deepEqual(hours[12], {});
  // Every bucket is its own object.
  hours[1].ok = 5;
  assert.deepEqual(hours[2], {});
});

test('spread: nearest-rank percentiles of unsorted values', () => {
  assert.equal(spread([]), null);
  assert.deepEqual(spread([5]), { p50: 5, p95: 5, max: 5 });
  assert.deepEqual(spread([3, 1, 2]), { p50: 2, p95: 3, max: 3 });
  assert.deepEqual(spread([2, 1]), { p50: 1, p95: 2, max: 2 });
  const twenty = Array.from({ length: 20 }, (_, i) => 20 - i);
  assert.deepEqual(spread(twenty), { p50: 10, p95: 19, max: 20 });
  // Sorted as numbers, not as text.
  assert.deepEqual(spread([10, 9, 100]), { p50: 10, p95: 100, max: 100 });
  const input = [3, 1, 2];
  spread(input);
  assert.deepEqual(input, [3, 1, 2], 'the input is not sorted in place');
});

test('summariseRound: one row per finished service; ok, failed and other counted apart', () => {
  const r = round('r1', D0, [
    svc('a', D0),
    svc('b', D0, { verdict: 'call_failed', callOk: false, reason: 'call c: status 500' }),
    svc('c', D0, { verdict: 'indeterminate', meteringOk: null, after: { ok: false, reason: 'HTTP 500', at: D0 }, before: null, countQueryOk: false }),
  ], { abortedServices: [{ serviceId: 'd', name: 'd', appId: 'x', startedAt: D0, reason: 'shutdown' }] });
  const s = summariseRound(r);
  assert.deepEqual([s.id, s.startedAt, s.finishedAt, s.run, s.ok, s.failed, s.other, s.aborted], ['r1', D0, D0 + 5000, 3, 1, 1, 1, 1]);
  assert.deepEqual(s.rows[0], { serviceId: 'a', name: 'Name a', before: { ok: true, value: 10 }, after: { ok: true, value: 11 }, meteringOk: true, countQueryOk: true, callOk: true, verdict: 'ok', reason: '', failed: false });
  assert.deepEqual([s.rows[1].failed, s.rows[1].callOk, s.rows[1].reason], [true, false, 'call c: status 500']);
  assert.deepEqual([s.rows[2].before, s.rows[2].after, s.rows[2].failed, s.rows[2].countQueryOk, s.rows[2].meteringOk], [null, { ok: false }, false, false, null]);
  assert.equal(summariseRound(round('r2', D0, [])).aborted, 0);
});

test('unexplainedOf: a finding only when units appeared', () => {
  const base = { serviceId: 's', name: 'S' };
  assert.equal(unexplainedOf({ ...base }), null);
  assert.equal(unexplainedOf({ ...base, unexplained: usage(0, D0, 'none') }), null);
  assert.equal(unexplainedOf({ ...base, unexplained: usage(3, D0, 'none') }), null);
  assert.equal(unexplainedOf({ ...base, unexplained: usage(-2, D0) }), null);
  assert.equal(unexplainedOf({ ...base, unexplained: usage(0, D0, 'late_charge') }), null);
  assert.equal(unexplainedOf({ ...base, unexplained: usage(0, D0) }), null);
  assert.deepEqual(unexplainedOf({ ...base, unexplained: usage(1, D0 + 7) }), { serviceId: 's', name: 'S', at: D0 + 7, units: 1, kind: 'unexplained', lagSeconds: null, reason: 'unexplained 1' });
  assert.deepEqual(unexplainedOf({ ...base, unexplained: usage(2, D0, 'late_charge', { min: 30, max: 90 }) })?.lagSeconds, { min: 30, max: 90 });
});

test('buildDigest: per-service counts, mismatches, usage between rounds, rounds and failed rounds', () => {
  const r1 = round('r1', D0 + 1 * H, [
    svc('ocr', D0 + 1 * H, { calls: [callOf('c', 0.4), callOf('d', 0.1)], settleSeconds: 4, unexplained: usage(2, D0 + 1 * H + 5, 'late_charge') }),
    svc('asr', D0 + 1 * H, { verdict: 'metering_mismatch', meteringOk: false, delta: 4, expectedDelta: 1, name: 'Old asr name', unexplained: usage(1, D0 + 1 * H + 5) }),
    svc('gone', D0 + 1 * H, { verdict: 'auth_failed', authOk: false }),
  ]);
  const r2 = round('r2', D0 + 2 * H, [
    svc('asr', D0 + 2 * H, { verdict: 'metering_mismatch', meteringOk: false, delta: 0, expectedDelta: 2, settleSeconds: null }),
    svc('ocr', D0 + 2 * H, { verdict: 'count_query_failed', countQueryOk: false, meteringOk: null, delta: null, settleSeconds: null, callOk: false, calls: [callOf('c', 0.3, false)], authOk: null }),
  ]);
  // Cut short before finishing anything: counted as aborted only.
  const r3 = round('r3', D0 + 3 * H, [], { aborted: true });
  // Cut short after finishing one: counts as a round for what it finished.
  const r4 = round('r4', D0 + 4 * H, [svc('asr', D0 + 4 * H, { verdict: 'indeterminate', meteringOk: null, name: 'Name asr', unexplained: usage(0, D0 + 4 * H, 'none') })], { aborted: true });
  // Given out of order: the digest sorts by start.
  const d = buildDigest([r4, r2, r3, r1], DAY, TZ);
  assert.deepEqual([d.day, d.timezone, d.dayStart, d.dayEnd], [DAY, TZ, D0, D0 + 24 * H]);
  assert.deepEqual([d.rounds, d.failedRounds, d.abortedRounds], [3, 2, 2]);
  // The latest round that finished a service is the table; its order leads, then services seen only earlier.
  assert.equal(d.latest?.id, 'r4');
  assert.deepEqual(d.services.map((s) => [s.serviceId, s.name]), [['asr', 'Name asr'], ['ocr', 'Name ocr'], ['gone', 'Name gone']]);
  const [asr, ocr, gone] = d.services;
  assert.deepEqual([asr.rounds, asr.ok, asr.successRatio, asr.callFailures, asr.countQueryFailures, asr.authFailures, asr.unexplainedUnits], [3, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(asr.mismatches, [
    { serviceId: 'asr', name: 'Old asr name', at: D0 + 1 * H + 1000, direction: 'over', size: 3, expected: 1, delta: 4 },
    { serviceId: 'asr', name: 'Name asr', at: D0 + 2 * H + 1000, direction: 'under', size: 2, expected: 2, delta: 0 },
  ]);
  assert.deepEqual([ocr.rounds, ocr.ok, ocr.successRatio, ocr.callFailures, ocr.countQueryFailures, ocr.authFailures, ocr.unexplainedUnits], [2, 1, 0.5, 1, 1, 0, 2]);
  assert.deepEqual(ocr.latency, { p50: 0.3, p95: 0.4, max: 0.4 });
  assert.deepEqual(ocr.settle, { p50: 4, p95: 4, max: 4 });
  assert.deepEqual(ocr.mismatches, []);
  assert.deepEqual(ocr.hours[1], { ok: 1 });
  assert.deepEqual(ocr.hours[2], { count_query_failed: 1 });
  assert.deepEqual([gone.rounds, gone.authFailures, gone.ok], [1, 1, 0]);
  assert.deepEqual(asr.settle, { p50: 2, p95: 2, max: 2 });
  // Every mismatch of the day, by time; every finding, by time then service.
  assert.deepEqual(d.mismatches.map((m) => [m.serviceId, m.direction]), [['asr', 'over'], ['asr', 'under']]);
  assert.deepEqual(d.unexplained.map((u) => [u.serviceId, u.units, u.kind]), [['asr', 1, 'unexplained'], ['ocr', 2, 'late_charge']]);
});

test('buildDigest: mismatches of several services are merged in time order; findings at the same time by service', () => {
  const r1 = round('r1', D0 + H, [svc('b', D0 + 3 * H, { verdict: 'metering_mismatch', meteringOk: false, delta: 2, unexplained: usage(1, D0 + H) }), svc('a', D0 + H, { unexplained: usage(1, D0 + H) })]);
  // The latest round lists b first: the day's list is still in time order (a's mismatch is earlier).
  const r2 = round('r2', D0 + 2 * H, [svc('b', D0 + 2 * H, { unexplained: usage(1, D0 + 0.5 * H) }), svc('a', D0 + 2 * H, { verdict: 'metering_mismatch', meteringOk: false, delta: 3 })]);
  const d = buildDigest([r1, r2], DAY, TZ);
  assert.deepEqual(d.services.map((x) => x.serviceId), ['b', 'a']);
  assert.deepEqual(d.mismatches.map((m) => m.serviceId), ['a', 'b']);
  assert.deepEqual(d.unexplained.map((u) => [u.serviceId, u.at]), [['b', D0 + 0.5 * H], ['a', D0 + H], ['b', D0 + H]]);
  // A mismatch with an unknown delta is not listed.
  const none = buildDigest([round('r', D0, [svc('a', D0, { meteringOk: false, delta: null })])], DAY, TZ);
  assert.deepEqual(none.services[0].mismatches, []);
});

test('buildDigest: an empty day', () => {
  const d = buildDigest([round('r', D0, [], { aborted: true })], DAY, TZ);
  assert.deepEqual([d.rounds, d.failedRounds, d.abortedRounds, d.latest, d.services, d.mismatches, d.unexplained], [0, 0, 1, null, [], [], []]);
  const nothing = buildDigest([], DAY, TZ);
  assert.deepEqual([nothing.rounds, nothing.abortedRounds, nothing.latest], [0, 0, null]);
});

test('buildDigest: the hours follow the day of the time zone', () => {
  const tz = 'Asia/Shanghai';
  const { start, end } = dayRange(DAY, tz);
  assert.equal(end - start, 24 * H);
  // 16:30 UTC the day before is 00:30 in Shanghai: the first hour.
  const d = buildDigest([round('r', start + 30 * 60_000 - 1000, [svc('a', start + 30 * 60_000 - 1000)])], DAY, tz);
  assert.deepEqual(d.services[0].hours[0], { ok: 1 });
  assert.equal(d.dayStart, start);
});
