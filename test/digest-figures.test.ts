// The day's figures (src/digest/query.ts over the rollups of src/store/rollup.ts) from plain round
// results: what counts as a failure, the per-service counts, mismatches, usage between rounds,
// percentiles, the hourly strip and the latest round's table. No store, no mail: the same figures
// from SQLite are in store-figures.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOURS, isFailure, summariseRound } from '../src/digest/build.js';
import { buildDigest, digestOf, queryDigest, spreadOf } from '../src/digest/query.js';
import {
  addTo,
  addToDay,
  addVerdict,
  dayRowsOf,
  decodeHistogram,
  emptyRollup,
  encodeHistogram,
  findingOf,
  hourOfSlot,
  isFailure as isFailureOfRollup,
  isNotable,
  mergeCounts,
  rollupRounds,
  SLOT_MS,
  slotOf,
  toMs,
  type DayRollup,
  type DayRows,
  type Histogram,
} from '../src/store/rollup.js';
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

const hist = (...ms: number[]): Histogram => {
  const h: Histogram = new Map();
  for (const m of ms) addTo(h, m);
  return h;
};

test('isFailure: every verdict but ok and indeterminate (the digest and the rollups agree)', () => {
  const all: [Verdict, boolean][] = [['ok', false], ['indeterminate', false], ['call_failed', true], ['count_query_failed', true], ['metering_mismatch', true], ['auth_failed', true]];
  for (const [v, failed] of all) {
    assert.equal(isFailure(v), failed, v);
    assert.equal(isFailureOfRollup(v), failed, v);
  }
});

test('slotOf, toMs: UTC hours since the epoch; durations to the nearest millisecond', () => {
  assert.equal(SLOT_MS, H);
  assert.equal(slotOf(D0), D0 / H);
  assert.equal(slotOf(D0 + H - 1), D0 / H);
  assert.equal(slotOf(D0 + H), D0 / H + 1);
  assert.equal(toMs(2.5), 2500);
  assert.equal(toMs(0.0004), 0);
  assert.equal(toMs(0.0006), 1);
  assert.equal(toMs(1e-7), 0);
});

test('hourOfSlot: the mark of an hour, by its start, clamped to the day', () => {
  const end = D0 + 24 * H;
  const at = (t: number, s = D0, e = end) => hourOfSlot(slotOf(t), s, e);
  assert.equal(HOURS, 24);
  assert.equal(at(D0), 0);
  assert.equal(at(D0 + H - 1), 0);
  assert.equal(at(D0 + H), 1);
  assert.equal(at(D0 + 5.5 * H), 5);
  assert.equal(at(end - 1), 23);
  assert.equal(at(end + H), 23);
  assert.equal(at(D0 - H), 0);
  // A 25-hour day (a clock going back): 24 marks still, each a little longer.
  assert.equal(at(D0 + 24 * H, D0, D0 + 25 * H), 23);
  assert.equal(at(D0 + 13 * H, D0, D0 + 25 * H), 12);
  assert.equal(at(D0 + 12 * H, D0, D0 + 25 * H), 11);
  // A 23-hour day: the last hour is the 24th mark.
  assert.equal(at(D0 + 22 * H, D0, D0 + 23 * H), 22);
  assert.equal(at(D0 + 11 * H, D0, D0 + 23 * H), 11);
  assert.equal(at(D0 + 12 * H, D0, D0 + 23 * H), 12);
  assert.equal(at(D0 + 13 * H, D0, D0 + 23 * H), 13);
});

test('spreadOf: nearest-rank percentiles of a histogram of milliseconds, in seconds', () => {
  assert.equal(spreadOf(new Map()), null);
  assert.deepEqual(spreadOf(hist(5000)), { p50: 5, p95: 5, max: 5 });
  assert.deepEqual(spreadOf(hist(3000, 1000, 2000)), { p50: 2, p95: 3, max: 3 });
  assert.deepEqual(spreadOf(hist(2000, 1000)), { p50: 1, p95: 2, max: 2 });
  const twenty = hist(...Array.from({ length: 20 }, (_, i) => (20 - i) * 1000));
  assert.deepEqual(spreadOf(twenty), { p50: 10, p95: 19, max: 20 });
  // Sorted as numbers, not as text.
  assert.deepEqual(spreadOf(hist(10, 9, 100)), { p50: 0.01, p95: 0.1, max: 0.1 });
  // Counts weigh: 19 of 20 at 100 ms puts the 95th at 100 ms; 18 of 20 does not.
  assert.deepEqual(spreadOf(new Map([[5000, 1], [100, 19]])), { p50: 0.1, p95: 0.1, max: 5 });
  assert.deepEqual(spreadOf(new Map([[5000, 2], [100, 18]])), { p50: 0.1, p95: 5, max: 5 });
  assert.deepEqual(spreadOf(new Map([[7, 1], [3, 1], [1, 2]])), { p50: 0.001, p95: 0.007, max: 0.007 });
  assert.deepEqual(spreadOf(new Map([[0, 3]])), { p50: 0, p95: 0, max: 0 });
});

test('histograms: counted per millisecond, stored as varint pairs, read back added', () => {
  const h = hist(300, 1, 300);
  assert.deepEqual([...h], [[300, 2], [1, 1]]);
  addTo(h, 1, 5);
  assert.equal(h.get(1), 6);
  // (1 - 0, 6), (300 - 1 = 299 = 0x80 + 43 + 0x80 * 1, 2): two bytes for 299.
  assert.deepEqual([...encodeHistogram(h)!], [1, 6, 0xab, 0x02, 2]);
  assert.equal(encodeHistogram(new Map()), null);
  assert.deepEqual(decodeHistogram(null), new Map());
  const big = new Map([[0, 1], [127, 128], [128, 1], [16_384, 300], [90_000_000, 2 ** 31 + 5], [2 ** 40, 1]]);
  assert.deepEqual([...decodeHistogram(encodeHistogram(big))].sort((a, b) => a[0] - b[0]), [...big]);
  // Decoded into a histogram, the counts add.
  const into = new Map([[1, 4], [7, 1]]);
  assert.equal(decodeHistogram(encodeHistogram(h), into), into);
  assert.deepEqual([...into].sort((a, b) => a[0] - b[0]), [[1, 10], [7, 1], [300, 2]]);
  // A negative duration (a clock step) is kept as 0.
  assert.deepEqual([...decodeHistogram(encodeHistogram(new Map([[-5, 2], [4, 1]])))], [[0, 2], [4, 1]]);
  assert.deepEqual([...decodeHistogram(Buffer.from([0x81, 0x01, 0x03]))], [[129, 3]]);
});

test('findingOf, isNotable: usage between rounds counts only when units appeared', () => {
  assert.equal(findingOf({}), null);
  assert.equal(findingOf({ unexplained: usage(0, D0, 'none') }), null);
  assert.equal(findingOf({ unexplained: usage(3, D0, 'none') }), null);
  assert.equal(findingOf({ unexplained: usage(-2, D0) }), null);
  assert.equal(findingOf({ unexplained: usage(0, D0, 'late_charge') }), null);
  assert.equal(findingOf({ unexplained: usage(0, D0) }), null);
  const u = usage(1, D0 + 7);
  assert.equal(findingOf({ unexplained: u }), u);
  const base = { serviceId: 's', name: 'S', finishedAt: D0, meteringOk: true as boolean | null, delta: 1 as number | null, expectedDelta: 1 };
  assert.equal(isNotable(base), false);
  assert.equal(isNotable({ ...base, meteringOk: false }), true);
  assert.equal(isNotable({ ...base, meteringOk: false, delta: null }), false);
  assert.equal(isNotable({ ...base, meteringOk: null, delta: 5 }), false);
  assert.equal(isNotable({ ...base, unexplained: usage(2, D0, 'late_charge') }), true);
  assert.equal(isNotable({ ...base, unexplained: usage(2, D0, 'none') }), false);
});

test('rollups: one per hour and service; counts, histograms and the latest name', () => {
  const r1 = round('r1', D0 + H + 10, [
    svc('a', D0 + H + 10, { calls: [callOf('c', 0.25), callOf('d', 0.25)], settleSeconds: 1.5, unexplained: usage(4, D0 + H) }),
    svc('b', D0 + H + 10, { verdict: 'auth_failed', authOk: false, callOk: false, countQueryOk: false, settleSeconds: null }),
  ]);
  const r0 = round('r0', D0 + H, [svc('a', D0 + H, { name: 'Older a', verdict: 'call_failed', callOk: false, authOk: null })]);
  const r2 = round('r2', D0 + 2 * H, [svc('a', D0 + 2 * H, { name: 'Later a' })]);
  const rollups = rollupRounds([r1, r0, r2]);
  assert.deepEqual(rollups.map((r) => [r.slot, r.serviceId, r.name, r.nameAt]), [
    [slotOf(D0 + H), 'a', 'Name a', D0 + H + 10],
    [slotOf(D0 + H), 'b', 'Name b', D0 + H + 10],
    [slotOf(D0 + 2 * H), 'a', 'Later a', D0 + 2 * H],
  ]);
  const [a, b] = rollups;
  assert.deepEqual([a.rounds, a.verdicts, a.callFailures, a.countQueryFailures, a.authFailures, a.unexplainedUnits], [2, { ok: 1, call_failed: 1 }, 1, 0, 0, 4]);
  assert.deepEqual([...a.latency].sort(), [[250, 2], [500, 1]]);
  assert.deepEqual([...a.settle].sort(), [[1500, 1], [2000, 1]]);
  assert.deepEqual([b.rounds, b.verdicts, b.callFailures, b.countQueryFailures, b.authFailures, b.unexplainedUnits, b.settle.size], [1, { auth_failed: 1 }, 1, 1, 1, 0, 0]);
  // A verdict of the same instant as the name's takes over the name.
  const same = emptyRollup(1, 'x', 'First', D0);
  addVerdict(same, svc('x', D0, { name: 'Second' }), D0);
  assert.equal(same.name, 'Second');
  addVerdict(same, svc('x', D0 - 1, { name: 'Earlier' }), D0 - 1);
  assert.deepEqual([same.name, same.nameAt, same.rounds, same.verdicts], ['Second', D0, 2, { ok: 2 }]);
});

test('mergeCounts, addToDay: a day adds its hours; the later name wins; each hour is its own mark', () => {
  const end = D0 + 24 * H;
  const days = new Map<string, DayRollup>();
  const one = { ...emptyRollup(slotOf(D0 + 3 * H), 's', 'Three', D0 + 3 * H), rounds: 2, verdicts: { ok: 1, call_failed: 1 }, callFailures: 1, countQueryFailures: 2, authFailures: 3, unexplainedUnits: 4 };
  const two = { ...emptyRollup(slotOf(D0 + 1 * H), 's', 'One', D0 + 1 * H), rounds: 3, verdicts: { ok: 3 }, callFailures: 10, countQueryFailures: 20, authFailures: 30, unexplainedUnits: 40 };
  const day = addToDay(days, one, D0, end);
  assert.equal(addToDay(days, two, D0, end), day);
  assert.deepEqual([day.rounds, day.verdicts, day.callFailures, day.countQueryFailures, day.authFailures, day.unexplainedUnits, day.name], [5, { ok: 4, call_failed: 1 }, 11, 22, 33, 44, 'Three']);
  assert.equal(day.hours.length, 24);
  assert.deepEqual([day.hours[1], day.hours[3], day.hours[2]], [{ ok: 3 }, { ok: 1, call_failed: 1 }, {}]);
  day.hours[5].ok = 9;
  assert.deepEqual(day.hours[6], {});
  // Equal times: the one merged last names it.
  const into = emptyRollup(0, 's', 'A', D0);
  mergeCounts(into, { ...emptyRollup(0, 's', 'B', D0) });
  assert.equal(into.name, 'B');
  mergeCounts(into, { ...emptyRollup(0, 's', 'C', D0 - 1) });
  assert.deepEqual([into.name, into.nameAt], ['B', D0]);
});

test('dayRowsOf: rounds in start order; finished, failed and aborted rounds; the notable verdicts', () => {
  const rows = dayRowsOf(
    [
      round('late', D0 + 3 * H, [svc('a', D0 + 3 * H, { verdict: 'indeterminate', meteringOk: false, delta: 3 })]),
      round('cut', D0 + 4 * H, [], { aborted: true }),
      round('early', D0 + H, [svc('a', D0 + H, { unexplained: usage(1, D0) }), svc('b', D0 + H, { verdict: 'count_query_failed', countQueryOk: false })], { aborted: true }),
    ],
    D0,
    D0 + 24 * H,
  );
  assert.deepEqual([rows.rounds, rows.failedRounds, rows.abortedRounds, rows.latest?.id], [2, 1, 2, 'late']);
  assert.deepEqual(rows.notable.map((n) => [n.serviceId, n.finishedAt]), [['a', D0 + H + 1000], ['a', D0 + 3 * H + 1000]]);
  assert.deepEqual(rows.services.map((s) => [s.serviceId, s.rounds, s.hours[1], s.hours[3]]), [['a', 2, { ok: 1 }, { indeterminate: 1 }], ['b', 1, { count_query_failed: 1 }, {}]]);
  assert.equal(dayRowsOf([], D0, D0 + 24 * H).latest, null);
});

test('digestOf: figures from rows as a store gives them (no rounds counted, a finding with a lag)', () => {
  const quiet: DayRollup = { ...emptyRollup(0, 'q', 'Quiet', D0), hours: Array.from({ length: 24 }, () => ({})) };
  const rows: DayRows = {
    rounds: 1,
    failedRounds: 0,
    abortedRounds: 0,
    latest: null,
    services: [quiet],
    notable: [
      { serviceId: 'q', name: 'Quiet', finishedAt: D0 + 5, meteringOk: true, delta: 1, expectedDelta: 1, unexplained: usage(2, D0 + 9, 'late_charge', { min: 30, max: 90 }) },
      { serviceId: 'q', name: 'Quiet', finishedAt: D0 + 6, meteringOk: false, delta: 1, expectedDelta: 1, unexplained: usage(1, D0 + 8) },
      // A mismatch of a traced round carries its trace id.
      { serviceId: 'q', name: 'Quiet', finishedAt: D0 + 7, meteringOk: false, delta: 3, expectedDelta: 1, traceId: '4bf92f3577b34da6a3ce929d0e0e4736' },
    ],
  };
  const d = digestOf(rows, DAY, TZ);
  assert.deepEqual(d.services.map((s) => [s.serviceId, s.name, s.rounds, s.ok, s.successRatio, s.latency, s.settle]), [['q', 'Quiet', 0, 0, null, null, null]]);
  assert.deepEqual(d.unexplained, [
    { serviceId: 'q', name: 'Quiet', at: D0 + 8, units: 1, kind: 'unexplained', lagSeconds: null, reason: 'unexplained 1' },
    { serviceId: 'q', name: 'Quiet', at: D0 + 9, units: 2, kind: 'late_charge', lagSeconds: { min: 30, max: 90 }, reason: 'late_charge 2' },
  ]);
  // A mismatch of size 0 is still listed as one (the verdict judged it), under the expected.
  assert.deepEqual(d.mismatches, [
    { serviceId: 'q', name: 'Quiet', at: D0 + 6, direction: 'under', size: 0, expected: 1, delta: 1 },
    { serviceId: 'q', name: 'Quiet', at: D0 + 7, direction: 'over', size: 2, expected: 1, delta: 3, traceId: '4bf92f3577b34da6a3ce929d0e0e4736' },
  ]);
  assert.deepEqual(d.services[0].mismatches, d.mismatches);
  assert.equal(d.latest, null);
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
  // The latest round that finished a service is the table; its order leads, then services seen only earlier, by id.
  assert.equal(d.latest?.id, 'r4');
  assert.deepEqual(d.services.map((s) => [s.serviceId, s.name]), [['asr', 'Name asr'], ['gone', 'Name gone'], ['ocr', 'Name ocr']]);
  const [asr, gone, ocr] = d.services;
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

test("buildDigest: the latest round's order is kept as is (not sorted), then the rest by id", () => {
  const ids = ['a', 'b', 'c', 'm', 'z'];
  const d = buildDigest([round('r1', D0, ids.map((id) => svc(id, D0))), round('r2', D0 + H, ['m', 'c', 'z', 'a'].map((id) => svc(id, D0 + H)))], DAY, TZ);
  assert.deepEqual(d.services.map((s) => s.serviceId), ['m', 'c', 'z', 'a', 'b']);
});

test('queryDigest: the day asked for, in its zone, from the rows a history gives for it', () => {
  const tz = 'Asia/Shanghai';
  const { start, end } = dayRange(DAY, tz);
  const rounds = [round('r', start + H, [svc('a', start + H)]), round('next', end, [svc('a', end, { verdict: 'call_failed', callOk: false })])];
  const asked: [number, number][] = [];
  const source = {
    dayRows(s: number, e: number) {
      asked.push([s, e]);
      return dayRowsOf(rounds.filter((r) => r.startedAt >= s && r.startedAt < e), s, e);
    },
  };
  const d = queryDigest(source, DAY, tz);
  assert.deepEqual(asked, [[start, end]]);
  assert.deepEqual(d, buildDigest([rounds[0]], DAY, tz));
  assert.deepEqual([d.day, d.timezone, d.dayStart, d.rounds, d.services[0].ok, d.latest?.id], [DAY, tz, start, 1, 1, 'r']);
});

test('digestOf: a metering verdict without a delta is no mismatch, even when listed for a finding', () => {
  const rows: DayRows = {
    rounds: 1,
    failedRounds: 1,
    abortedRounds: 0,
    latest: null,
    services: [],
    notable: [{ serviceId: 'q', name: 'Q', finishedAt: D0, meteringOk: false, delta: null, expectedDelta: 1, unexplained: usage(1, D0) }],
  };
  const d = digestOf(rows, DAY, TZ);
  assert.deepEqual(d.mismatches, []);
  assert.deepEqual(d.unexplained.map((u) => [u.serviceId, u.units]), [['q', 1]]);
});

test('rollups: the SLI counts (calls, failed calls, judged checks, mismatches); a maintenance verdict is no round', () => {
  const r = emptyRollup(slotOf(D0), 's', 'S', D0);
  // Two calls, one failed; a judged check that matched.
  addVerdict(r, svc('s', D0, { calls: [callOf('c', 0.1), callOf('d', 0.1, false)], verdict: 'call_failed', callOk: false }), D0);
  // A mismatch: one judged check, one mismatch; three good calls.
  addVerdict(r, svc('s', D0 + 1, { verdict: 'metering_mismatch', meteringOk: false, calls: [callOf('c', 0.1), callOf('d', 0.1), callOf('e', 0.1)] }), D0 + 1);
  // An ok verdict without calls: a judged check, no mismatch.
  addVerdict(r, svc('s', D0 + 2, { calls: [] }), D0 + 2);
  // A maintenance verdict: not judged (no check), no calls, no round.
  addVerdict(r, svc('s', D0 + 3, { verdict: 'maintenance', meteringOk: null, calls: [] }), D0 + 3);
  assert.deepEqual([r.rounds, r.verdicts, r.calls, r.failedCalls, r.checks, r.mismatches], [3, { call_failed: 1, metering_mismatch: 1, ok: 1, maintenance: 1 }, 5, 1, 3, 1]);
  // Merged into another rollup, the counts add.
  const into = { ...emptyRollup(slotOf(D0), 's', 'S', D0), calls: 10, failedCalls: 20, checks: 30, mismatches: 40 };
  mergeCounts(into, r);
  assert.deepEqual([into.rounds, into.calls, into.failedCalls, into.checks, into.mismatches], [3, 15, 21, 33, 41]);
});
