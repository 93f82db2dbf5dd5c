// The history's save path and the day's figures read back from SQLite (a temporary file, no
// network): what a saved round becomes after a restart (the columns and compact ok verdicts, not the
// copy in memory), and queryDigest over the store's rollups and rows against buildDigest over the rounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildDigest, queryDigest } from '../src/digest/query.js';
import { compactable, packOks, shapeOf, unpackOks, type Shape } from '../src/store/compact.js';
import { SqliteStore, StoreError } from '../src/store/sqlite.js';
import { slotOf } from '../src/store/rollup.js';
import { dayRange } from '../src/util/time.js';
import type { CallResult, RoundResult, ServiceResult, UnexplainedUsage } from '../src/types.js';

const DAY = '2024-05-01';
const TZ = 'UTC';
const { start: D0 } = dayRange(DAY, TZ);
const H = 3_600_000;

const dir = mkdtempSync(path.join(tmpdir(), 'patrol-store-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newFile = () => path.join(dir, `history-${++files}.db`);

const callOf = (name: string, seconds: number, ok = true, status?: number): CallResult => ({
  name,
  kind: 'http',
  ok,
  durationSeconds: seconds,
  ...(status !== undefined ? { status } : {}),
  reason: ok ? '' : `call ${name} failed`,
  failures: [],
  units: ok ? 1 : 0,
  extracted: {},
});
const usage = (units: number, at: number, kind: UnexplainedUsage['kind'] = 'unexplained'): UnexplainedUsage => ({ units, kind, since: { serviceId: 'x', value: 0, at: at - 60_000 }, value: units, at, reason: `${kind} ${units}` });

function svc(id: string, at: number, over: Partial<ServiceResult> = {}): ServiceResult {
  return {
    serviceId: id,
    name: `Name ${id}`,
    appId: `app-${id}`,
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
    calls: [callOf('c', 0.5, true, 200)],
    authChecks: [{ name: 'k', outcome: 'rejected', durationSeconds: 0.1, reason: '' }],
    ...over,
  };
}

function round(id: string, at: number, services: ServiceResult[], over: Partial<RoundResult> = {}): RoundResult {
  return { id, trigger: 'schedule', startedAt: at, finishedAt: at + 5000, durationSeconds: 5, aborted: false, services, ...over };
}

/** A day with every kind of outcome, oldest first. */
function day(): RoundResult[] {
  return [
    round('r1', D0 + 1 * H, [
      svc('ocr', D0 + 1 * H, { calls: [callOf('c', 0.25, true, 200), callOf('d', 1e-7)], settleSeconds: 4, unexplained: usage(2, D0 + 1 * H + 5, 'late_charge') }),
      svc('asr', D0 + 1 * H, { verdict: 'metering_mismatch', meteringOk: false, delta: 4, expectedDelta: 1, reason: 'over by 3', unexplained: usage(1, D0 + 1 * H + 6) }),
      // No auth check configured (authOk unknown), a WebSocket call.
      svc('beta', D0 + 1 * H, { unexplained: usage(0, D0 + H, 'none'), authOk: null, calls: [{ ...callOf('w', 0.3), kind: 'websocket' }] }),
      svc('zeta', D0 + 1 * H, { verdict: 'auth_failed', authOk: false, reason: 'auth check k accepted' }),
    ]),
    round('r2', D0 + 2 * H, [
      svc('asr', D0 + 2 * H, { verdict: 'metering_mismatch', meteringOk: false, delta: 0, expectedDelta: 2, settleSeconds: null, reason: 'under by 2' }),
      svc('ocr', D0 + 2 * H, {
        verdict: 'count_query_failed',
        countQueryOk: false,
        meteringOk: null,
        delta: null,
        settleSeconds: null,
        before: { ok: false, reason: 'HTTP 500', at: D0 + 2 * H },
        after: null,
        authOk: null,
        reason: 'before: HTTP 500',
      }),
    ], { timedOut: true }),
    round('r3', D0 + 3 * H, [], { aborted: true, abortedServices: [{ serviceId: 'ocr', name: 'Name ocr', appId: 'app-ocr', startedAt: D0 + 3 * H, reason: 'shutdown' }] }),
    round('r4', D0 + 4 * H, [
      svc('asr', D0 + 4 * H, { verdict: 'indeterminate', meteringOk: null, reason: 'day changed' }),
      svc('ocr', D0 + 4 * H, { callOk: true, settleSeconds: 1 }),
      // A failed call, the first read missing and the second failed; a duration JSON writes with a two-digit exponent.
      svc('tts', D0 + 4 * H, {
        verdict: 'call_failed',
        callOk: false,
        calls: [callOf('t', 2.5e-10, false)],
        before: null,
        after: { ok: false, reason: 'timeout', at: D0 + 4 * H },
        delta: null,
        meteringOk: null,
        countQueryOk: false,
        settleSeconds: null,
        reason: 'call t failed',
      }),
    ], {
      aborted: true,
      abortedServices: [{ serviceId: 'zeta', name: 'Name zeta', appId: 'app-zeta', startedAt: D0 + 4 * H, reason: 'shutdown' }],
    }),
    // The next day: in no figure of this one.
    round('r5', D0 + 25 * H, [svc('ocr', D0 + 25 * H, { verdict: 'call_failed', callOk: false, calls: [callOf('c', 0.5, false)] })]),
  ];
}

function saved(file = newFile()): SqliteStore {
  const store = new SqliteStore(file);
  for (const r of day()) store.save(r);
  return store;
}

test('a saved ok verdict is rebuilt from its columns after a restart; a failed one is kept whole', () => {
  const file = newFile();
  saved(file).close();
  const store = new SqliteStore(file);
  try {
    const rounds = store.byDay(DAY, TZ);
    assert.deepEqual(rounds.map((r) => r.id), ['r1', 'r2', 'r3', 'r4']);
    const [r1, r2, r3, r4] = rounds;
    assert.deepEqual(
      { ...r1, services: [] },
      { id: 'r1', trigger: 'schedule', startedAt: D0 + H, finishedAt: D0 + H + 5000, durationSeconds: 5, aborted: false, services: [] },
    );
    assert.equal(r2.timedOut, true);
    assert.equal(r3.aborted, true);
    assert.deepEqual(r3.abortedServices, day()[2].abortedServices);
    assert.deepEqual(r3.services, []);
    assert.deepEqual(r4.abortedServices?.map((a) => a.serviceId), ['zeta']);
    assert.equal('abortedServices' in r1, false);
    assert.equal('timedOut' in r1, false);
    // In the order they were saved.
    assert.deepEqual(r1.services.map((s) => s.serviceId), ['ocr', 'asr', 'beta', 'zeta']);
    const beta = r1.services[2];
    assert.equal(beta.authOk, null);
    assert.deepEqual(beta.calls.map((c) => [c.name, c.kind]), [['w', 'websocket']]);
    const ocr = r1.services[0];
    assert.deepEqual(ocr, {
      serviceId: 'ocr',
      name: 'Name ocr',
      appId: 'app-ocr',
      verdict: 'ok',
      reason: '',
      startedAt: D0 + H,
      finishedAt: D0 + H + 1000,
      // The reads' own times and days are not kept: the verdict's times stand in for them.
      before: { ok: true, value: 10, at: D0 + H, day: '' },
      after: { ok: true, value: 11, at: D0 + H + 1000, day: '' },
      delta: 1,
      expectedDelta: 1,
      meteringMode: 'exact',
      meteringOk: true,
      callOk: true,
      authOk: true,
      countQueryOk: true,
      settleSeconds: 4,
      calls: [
        { name: 'c', kind: 'http', ok: true, durationSeconds: 0.25, status: 200, reason: '', failures: [], units: 0, extracted: {} },
        { name: 'd', kind: 'http', ok: true, durationSeconds: 1e-7, reason: '', failures: [], units: 0, extracted: {} },
      ],
      authChecks: [],
      unexplained: usage(2, D0 + H + 5, 'late_charge'),
    });
    // "Nothing moved" is kept as 0 units only.
    assert.equal('unexplained' in beta, false);
    // Failed verdicts come back whole.
    assert.deepEqual(r1.services[1], day()[0].services[1]);
    assert.deepEqual(r2.services[1], day()[1].services[1]);
    // The latest round with a finished service.
    assert.equal(store.latest()?.id, 'r5');
  } finally {
    store.close();
  }
});

test('the columns written for each verdict', () => {
  const store = saved();
  try {
    const rows = store.db.prepare('SELECT * FROM verdicts ORDER BY round_id, position').all() as Record<string, unknown>[];
    const row = (round: string, service: string) => rows.find((r) => r.round_id === round && r.service_id === service)!;
    const ocr1 = row('r1', 'ocr');
    assert.deepEqual(
      [ocr1.position, ocr1.before_value, ocr1.before_error, ocr1.after_value, ocr1.after_error, ocr1.metering_ok, ocr1.call_ok, ocr1.auth_ok, ocr1.count_query_ok, ocr1.result, ocr1.unexplained_units],
      [0, 10, null, 11, null, 1, 1, 1, 1, null, 2],
    );
    assert.deepEqual(JSON.parse(ocr1.call_seconds as string), [{ call: 'c', kind: 'http', seconds: 0.25, status: 200 }, { call: 'd', kind: 'http', seconds: 1e-7, status: null }]);
    assert.deepEqual(JSON.parse(ocr1.call_reasons as string), []);
    assert.deepEqual(JSON.parse(ocr1.unexplained as string), usage(2, D0 + H + 5, 'late_charge'));
    const ocr2 = row('r2', 'ocr');
    assert.deepEqual([ocr2.before_value, ocr2.before_error, ocr2.after_value, ocr2.after_error, ocr2.metering_ok, ocr2.auth_ok, ocr2.count_query_ok, ocr2.delta], [null, 'HTTP 500', null, null, null, null, 0, null]);
    assert.deepEqual(JSON.parse(ocr2.result as string), day()[1].services[1]);
    const asr1 = row('r1', 'asr');
    assert.deepEqual([asr1.position, asr1.metering_ok, asr1.delta, asr1.expected_delta, asr1.verdict, asr1.reason, asr1.metering_mode], [1, 0, 4, 1, 'metering_mismatch', 'over by 3', 'exact']);
    assert.equal(row('r1', 'zeta').auth_ok, 0);
    const tts = row('r4', 'tts');
    assert.deepEqual([tts.before_value, tts.before_error, tts.after_value, tts.after_error, tts.count_query_ok, tts.call_ok], [null, null, null, 'timeout', 0, 0]);
    // Plain ok verdicts are no rows: they are the round's compact tuples.
    assert.equal(rows.some((r) => r.service_id === 'beta' || (r.round_id === 'r4' && r.service_id === 'ocr')), false);
    const oks = store.db.prepare('SELECT round_id FROM round_oks ORDER BY round_id').pluck().all();
    assert.deepEqual(oks, ['r1', 'r4']);
    assert.deepEqual([row('r2', 'asr').unexplained_units, row('r2', 'asr').settle_seconds], [null, null]);
    const failedCall = row('r5', 'ocr');
    assert.deepEqual(JSON.parse(failedCall.call_reasons as string), [{ call: 'c', reason: 'call c failed' }]);
    assert.deepEqual([failedCall.call_ok], [0]);
    const rounds = store.db.prepare('SELECT * FROM rounds ORDER BY id').all() as Record<string, unknown>[];
    assert.deepEqual(
      rounds.map((r) => [r.id, r.aborted, r.service_count, r.failed_count, r.timed_out, r.aborted_services === null ? null : JSON.parse(r.aborted_services as string).length]),
      [
        ['r1', 0, 4, 2, 0, null],
        ['r2', 0, 2, 2, 1, null],
        ['r3', 1, 0, 0, 0, 1],
        ['r4', 1, 3, 2, 0, 1],
        ['r5', 0, 1, 1, 0, null],
      ],
    );
  } finally {
    store.close();
  }
});

test('saving a round id again replaces it whole; a closed store refuses to save', () => {
  const file = newFile();
  const store = new SqliteStore(file);
  store.save(round('x', D0, [svc('a', D0), svc('b', D0)]));
  store.save(round('x', D0, [svc('c', D0, { verdict: 'call_failed', callOk: false })]));
  store.close();
  assert.throws(() => store.save(round('y', D0, [])), (err: unknown) => err instanceof StoreError && err.message === `the history file ${file} is closed`);
  const again = new SqliteStore(file);
  try {
    assert.deepEqual(again.byDay(DAY, TZ).map((r) => [r.id, r.services.map((s) => s.serviceId)]), [['x', ['c']]]);
  } finally {
    again.close();
  }
});

test("the day's figures from SQL equal those computed from the day's rounds, live and after a restart", () => {
  const file = newFile();
  const live = saved(file);
  try {
    const fromSql = queryDigest(live, DAY, TZ);
    assert.deepEqual(fromSql, buildDigest(live.byDay(DAY, TZ), DAY, TZ));
  } finally {
    live.close();
  }
  const reopened = new SqliteStore(file);
  try {
    assert.deepEqual(queryDigest(reopened, DAY, TZ), buildDigest(reopened.byDay(DAY, TZ), DAY, TZ));
  } finally {
    reopened.close();
  }
});

test("the day's figures from SQL, value by value", () => {
  const store = saved();
  try {
    const d = queryDigest(store, DAY, TZ);
    assert.deepEqual([d.day, d.timezone, d.dayStart, d.dayEnd, d.rounds, d.failedRounds, d.abortedRounds], [DAY, TZ, D0, D0 + 24 * H, 3, 3, 2]);
    assert.equal(d.latest?.id, 'r4');
    assert.deepEqual([d.latest?.run, d.latest?.ok, d.latest?.failed, d.latest?.other, d.latest?.aborted], [3, 1, 1, 1, 1]);
    // The latest round's order, then the others by id.
    assert.deepEqual(d.services.map((s) => s.serviceId), ['asr', 'ocr', 'tts', 'beta', 'zeta']);
    const by = new Map(d.services.map((s) => [s.serviceId, s]));
    const ocr = by.get('ocr')!;
    assert.deepEqual([ocr.name, ocr.rounds, ocr.ok, ocr.successRatio, ocr.callFailures, ocr.countQueryFailures, ocr.authFailures, ocr.unexplainedUnits], ['Name ocr', 3, 2, 2 / 3, 0, 1, 0, 2]);
    assert.deepEqual(ocr.latency, { p50: 0.25, p95: 0.5, max: 0.5 });
    assert.deepEqual(ocr.settle, { p50: 1, p95: 4, max: 4 });
    assert.deepEqual([ocr.hours[1], ocr.hours[2], ocr.hours[4], ocr.hours[3]], [{ ok: 1 }, { count_query_failed: 1 }, { ok: 1 }, {}]);
    const asr = by.get('asr')!;
    assert.deepEqual([asr.rounds, asr.ok, asr.successRatio, asr.unexplainedUnits], [3, 0, 0, 1]);
    assert.deepEqual(asr.mismatches, [
      { serviceId: 'asr', name: 'Name asr', at: D0 + H + 1000, direction: 'over', size: 3, expected: 1, delta: 4 },
      { serviceId: 'asr', name: 'Name asr', at: D0 + 2 * H + 1000, direction: 'under', size: 2, expected: 2, delta: 0 },
    ]);
    assert.deepEqual([by.get('zeta')!.authFailures, by.get('zeta')!.ok], [1, 0]);
    const tts = by.get('tts')!;
    assert.deepEqual([tts.rounds, tts.ok, tts.callFailures, tts.countQueryFailures, tts.authFailures, tts.settle, tts.latency], [1, 0, 1, 1, 0, null, { p50: 0, p95: 0, max: 0 }]);
    assert.deepEqual(tts.hours[4], { call_failed: 1 });
    assert.deepEqual(d.mismatches.map((m) => m.at), [D0 + H + 1000, D0 + 2 * H + 1000]);
    assert.deepEqual(d.unexplained.map((u) => [u.serviceId, u.units, u.kind]), [['ocr', 2, 'late_charge'], ['asr', 1, 'unexplained']]);
    // A day without rounds.
    const empty = queryDigest(store, '2024-04-01', TZ);
    assert.deepEqual([empty.rounds, empty.failedRounds, empty.abortedRounds, empty.latest, empty.services, empty.mismatches, empty.unexplained], [0, 0, 0, null, [], [], []]);
  } finally {
    store.close();
  }
});

test("the day's figures: findings at the same instant are ordered by service; a renamed service shows its latest name", () => {
  const store = new SqliteStore(newFile());
  try {
    store.save(round('a1', D0 + H, [svc('b', D0 + H, { unexplained: usage(1, D0 + H), name: 'Old b' }), svc('a', D0 + H, { unexplained: usage(3, D0 + H), verdict: 'metering_mismatch', meteringOk: false, delta: 9 })]));
    store.save(round('a2', D0 + 2 * H, [svc('b', D0 + 2 * H, { unexplained: usage(1, D0 + 0.5 * H), verdict: 'metering_mismatch', meteringOk: false, delta: 9 })]));
    const d = queryDigest(store, DAY, TZ);
    assert.deepEqual(d.unexplained.map((u) => [u.serviceId, u.at]), [['b', D0 + 0.5 * H], ['a', D0 + H], ['b', D0 + H]]);
    assert.deepEqual(d.services.map((s) => [s.serviceId, s.name]), [['b', 'Name b'], ['a', 'Name a']]);
    assert.deepEqual(d.mismatches.map((m) => m.serviceId), ['a', 'b']);
    assert.deepEqual(d, buildDigest(store.byDay(DAY, TZ), DAY, TZ));
  } finally {
    store.close();
  }
});

test("the day's figures: a round's services finish in any order; the day's mismatches are listed by time", () => {
  const store = new SqliteStore(newFile());
  try {
    // Position 0 finished last (services run in parallel within a round).
    store.save(round('p1', D0 + H, [
      svc('late', D0 + H, { finishedAt: D0 + H + 9000, verdict: 'metering_mismatch', meteringOk: false, delta: 5 }),
      svc('early', D0 + H, { finishedAt: D0 + H + 2000, verdict: 'metering_mismatch', meteringOk: false, delta: 0 }),
      // Units recorded as "nothing unexplained": not a finding.
      svc('quiet', D0 + H, { unexplained: usage(3, D0 + H, 'none') }),
    ]));
    const d = queryDigest(store, DAY, TZ);
    assert.deepEqual(d.mismatches.map((m) => [m.serviceId, m.direction]), [['early', 'under'], ['late', 'over']]);
    assert.deepEqual(d.unexplained, []);
    assert.equal(d.services.find((s) => s.serviceId === 'quiet')?.unexplainedUnits, 0);
    assert.deepEqual(d, buildDigest(store.byDay(DAY, TZ), DAY, TZ));
  } finally {
    store.close();
  }
});

test("the day's figures: services missing from the latest round follow it, ordered by id", () => {
  const store = new SqliteStore(newFile());
  try {
    store.save(round('a1', D0 + H, [svc('m', D0 + H), svc('z', D0 + H), svc('c', D0 + H)]));
    store.save(round('a2', D0 + 2 * H, [svc('m', D0 + 2 * H)]));
    assert.deepEqual(queryDigest(store, DAY, TZ).services.map((s) => s.serviceId), ['m', 'c', 'z']);
  } finally {
    store.close();
  }
});

test("the day's figures from the store equal those of the rounds as they were saved (not as read back)", () => {
  const file = newFile();
  saved(file).close();
  const store = new SqliteStore(file);
  try {
    const rounds = day().filter((r) => r.startedAt < D0 + 24 * H);
    assert.deepEqual(queryDigest(store, DAY, TZ), buildDigest(rounds, DAY, TZ));
  } finally {
    store.close();
  }
});

test('which ok verdicts are kept compact: only those the tuples hold whole', () => {
  assert.equal(compactable(svc('a', D0)), true);
  assert.equal(compactable(svc('a', D0, { before: null, after: null, delta: null, meteringOk: null, authOk: null, settleSeconds: null })), true);
  const whole: [string, Partial<ServiceResult>][] = [
    ['a failed verdict', { verdict: 'call_failed' }],
    ['indeterminate', { verdict: 'indeterminate' }],
    ['a failed call flag', { callOk: false }],
    ['a failed count query flag', { countQueryOk: false }],
    ['metering judged wrong', { meteringOk: false }],
    ['auth judged wrong', { authOk: false }],
    ['a finding', { unexplained: usage(1, D0) }],
    ['a failed first read', { before: { ok: false, reason: 'x', at: D0 } }],
    ['a failed second read', { after: { ok: false, reason: 'x', at: D0 } }],
    ['a fractional first read', { before: { ok: true, value: 1.5, at: D0, day: DAY }, delta: 9.5 }],
    ['a fractional second read', { after: { ok: true, value: 11.5, at: D0, day: DAY }, delta: 1.5 }],
    ['a delta that is not after - before', { delta: 2 }],
    ['a delta without reads', { before: null, after: null, delta: 1 }],
    ['a fractional expected delta', { expectedDelta: 1.5 }],
    ['a failed call', { calls: [callOf('c', 0.5, false)] }],
    ['a call with a reason', { calls: [{ ...callOf('c', 0.5), reason: 'slow' }] }],
    ['the second call with a reason', { calls: [callOf('c', 0.5), { ...callOf('d', 0.5), reason: 'slow' }] }],
  ];
  for (const [what, over] of whole) assert.equal(compactable(svc('a', D0, over)), false, what);
  // "Nothing moved" is no finding: still compact.
  assert.equal(compactable(svc('a', D0, { unexplained: usage(0, D0, 'none') })), true);
});

test('compact ok verdicts read back: offsets, reads, flags, settle, call durations and statuses', () => {
  const at = D0 + 5 * H;
  const oks = [
    svc('p', at + 20, { finishedAt: at + 20 + 1234, before: { ok: true, value: 1000, at, day: DAY }, after: { ok: true, value: 1003, at, day: DAY }, delta: 3, expectedDelta: 3, settleSeconds: 0.25, calls: [callOf('x', 0.125, true, 201), callOf('y', 2)] }),
    svc('q', at, { before: null, after: null, delta: null, meteringOk: null, authOk: null, settleSeconds: null, meteringMode: 'at_least', expectedDelta: 0, reason: 'metering not checked', calls: [{ ...callOf('w', 0.5), kind: 'websocket' }] }),
    svc('r', at, { before: { ok: true, value: 7, at, day: DAY }, after: null, delta: null, meteringOk: null }),
    svc('s', at, { before: null, after: { ok: true, value: 7, at, day: DAY }, delta: null, meteringOk: null }),
  ];
  const failed = svc('f', at, { verdict: 'auth_failed', authOk: false });
  const packed = packOks(at, oks.map((s, i) => ({ position: i * 2, shapeId: i, s })));
  const shapes = oks.map((s) => JSON.parse(shapeOf(s)) as Shape);
  const back = unpackOks(packed, at, (id) => shapes[id]);
  assert.deepEqual(back.map((b) => b.position), [0, 2, 4, 6]);
  const expected = (s: ServiceResult): ServiceResult => {
    const { authChecks: _a, unexplained: _u, ...rest } = s;
    return {
      ...rest,
      before: s.before?.ok ? { ...s.before, at: s.startedAt, day: '' } : null,
      after: s.after?.ok ? { ...s.after, at: s.finishedAt, day: '' } : null,
      delta: s.before?.ok && s.after?.ok ? s.after.value - s.before.value : null,
      calls: s.calls.map((c) => ({ ...c, units: 0, failures: [], extracted: {} })),
      authChecks: [],
    };
  };
  assert.deepEqual(back.map((b) => b.result), oks.map(expected));
  // Saved and read back after a restart: the same, in the round's order around a failed verdict.
  const file = newFile();
  const store = new SqliteStore(file);
  store.save(round('c1', at, [oks[0], failed, oks[1], oks[2], oks[3]]));
  store.save(round('c2', at + 60_000, [oks[1]]));
  store.close();
  const again = new SqliteStore(file);
  try {
    const [c1, c2] = again.byDay(DAY, TZ);
    assert.deepEqual(c1.services, [expected(oks[0]), failed, expected(oks[1]), expected(oks[2]), expected(oks[3])]);
    assert.deepEqual(c2.services, [{ ...expected(oks[1]), startedAt: at, finishedAt: at + 1000 }]);
    assert.equal(again.db.prepare('SELECT count(*) FROM service_shapes').pluck().get(), 4);
  } finally {
    again.close();
  }
});

test("the day's figures: rounds of the same hour add to its rollups; a day that starts at a half hour is exact", () => {
  const store = new SqliteStore(newFile());
  const tz = 'Asia/Kolkata';
  const { start, end } = dayRange(DAY, tz);
  assert.equal(start % H, H / 2);
  // Around both edges of the day, and several rounds in one whole hour.
  const rounds = [
    round('k0', start - 60_000, [svc('a', start - 60_000, { verdict: 'call_failed', callOk: false })]),
    round('k1', start, [svc('a', start, { settleSeconds: 1 }), svc('b', start, { verdict: 'auth_failed', authOk: false })]),
    round('k2', start + H - 1, [svc('a', start + H - 1, { calls: [callOf('c', 0.75)] })]),
    round('k3', start + 2 * H, [svc('a', start + 2 * H, { calls: [callOf('c', 0.125)] })]),
    round('k4', start + 2 * H + 60_000, [svc('a', start + 2 * H + 60_000, { verdict: 'metering_mismatch', meteringOk: false, delta: 3 })]),
    round('k5', start + 2 * H + 120_000, [svc('a', start + 2 * H + 120_000, { settleSeconds: 7 })]),
    round('k6', end - 60_000, [svc('a', end - 60_000, { name: 'Last a' }), svc('c', end - 60_000, { unexplained: usage(5, end - 60_000) })]),
    round('k7', end, [svc('a', end, { verdict: 'call_failed', callOk: false, name: 'Next day a' })]),
  ];
  try {
    for (const r of rounds) store.save(r);
    const d = queryDigest(store, DAY, tz);
    assert.deepEqual(d, buildDigest(rounds.slice(1, 7), DAY, tz));
    const a = d.services.find((s) => s.serviceId === 'a')!;
    assert.deepEqual([a.name, a.rounds, a.ok, a.callFailures, a.mismatches.length], ['Last a', 6, 5, 0, 1]);
    assert.deepEqual(a.settle, { p50: 2, p95: 7, max: 7 });
    assert.deepEqual(a.latency, { p50: 0.5, p95: 0.75, max: 0.75 });
    assert.deepEqual([d.rounds, d.failedRounds, d.latest?.id], [6, 2, 'k6']);
  } finally {
    store.close();
  }
});

test("the day's figures: of two rounds that started at the same instant, the later id is the latest", () => {
  const store = new SqliteStore(newFile());
  try {
    store.save(round('b', D0 + H, [svc('x', D0 + H)]));
    store.save(round('a', D0 + H, [svc('y', D0 + H)]));
    const d = queryDigest(store, DAY, TZ);
    assert.equal(d.latest?.id, 'b');
    assert.deepEqual(d.services.map((s) => s.serviceId), ['x', 'y']);
  } finally {
    store.close();
  }
  const reopened = new SqliteStore(newFile());
  try {
    reopened.save(round('a', D0 + H, [svc('y', D0 + H)]));
    reopened.save(round('b', D0 + H, [svc('x', D0 + H)]));
    reopened.save(round('c', D0 + 2 * H, [], { aborted: true }));
    assert.equal(queryDigest(reopened, DAY, TZ).latest?.id, 'b');
  } finally {
    reopened.close();
  }
});

test('ok verdicts that are not compact are rebuilt from their columns: unknown flags, no reads, WebSocket calls, fractional reads', () => {
  const file = newFile();
  const at = D0 + 6 * H;
  // A finding keeps it a row; metering and auth were not judged, neither read was made.
  const unread = svc('u', at, { before: null, after: null, delta: null, meteringOk: null, authOk: null, settleSeconds: null, unexplained: usage(2, at), calls: [{ ...callOf('w', 0.5), kind: 'websocket' }] });
  // A counter with a fraction does not fit a tuple; "nothing moved" is no finding and is not kept.
  const fraction = svc('f', at, { before: { ok: true, value: 1.5, at, day: DAY }, after: { ok: true, value: 2.5, at, day: DAY }, unexplained: usage(0, at, 'none') });
  const store = new SqliteStore(file);
  store.save(round('o1', at, [unread, fraction]));
  const cols = store.db.prepare('SELECT service_id, unexplained_units, unexplained FROM verdicts ORDER BY position').raw().all();
  assert.deepEqual(cols, [['u', 2, JSON.stringify(usage(2, at))], ['f', 0, null]]);
  store.close();
  const again = new SqliteStore(file);
  try {
    const [o1] = again.byDay(DAY, TZ);
    const { authChecks: _a, ...u } = unread;
    assert.deepEqual(o1.services[0], { ...u, authChecks: [], calls: [{ ...unread.calls[0], units: 0 }] });
    const { authChecks: _b, unexplained: _c, ...f } = fraction;
    assert.deepEqual(o1.services[1], {
      ...f,
      before: { ok: true, value: 1.5, at, day: '' },
      after: { ok: true, value: 2.5, at: at + 1000, day: '' },
      authChecks: [],
      calls: [{ ...fraction.calls[0], units: 0 }],
    });
  } finally {
    again.close();
  }
});

test("a replaced round's hour is counted again from what is stored: the day's figures have the new round only", () => {
  const store = new SqliteStore(newFile());
  try {
    store.save(round('x', D0 + H, [svc('a', D0 + H), svc('b', D0 + H)]));
    store.save(round('y', D0 + H + 60_000, [svc('a', D0 + H + 60_000)]));
    store.save(round('x', D0 + H, [svc('a', D0 + H, { verdict: 'call_failed', callOk: false })]));
    // Rebuilt within the save, before any read: other readers of the rollups see it at once.
    assert.deepEqual(store.db.prepare('SELECT count(*) FROM rollup_pending').pluck().get(), 0);
    assert.deepEqual(store.db.prepare('SELECT service_id, rounds, ok FROM rollups WHERE slot = ?').raw().all(slotOf(D0 + H)), [['a', 2, 1]]);
    const d = queryDigest(store, DAY, TZ);
    assert.deepEqual(d.services.map((s) => [s.serviceId, s.rounds, s.ok]), [['a', 2, 1]]);
    assert.deepEqual(d, buildDigest(store.byDay(DAY, TZ), DAY, TZ));
    // An hour of ok verdicts only: its rollup row has the ok count and no other verdicts.
    store.save(round('z', D0 + 5 * H, [svc('a', D0 + 5 * H)]));
    assert.deepEqual(store.db.prepare('SELECT ok, verdicts FROM rollups WHERE slot = ?').raw().get(slotOf(D0 + 5 * H)), [1, null]);
  } finally {
    store.close();
  }
});

test("the day's figures: the part hours of a half-hour day add to the whole hours' histograms", () => {
  const store = new SqliteStore(newFile());
  const tz = 'Asia/Kolkata';
  const { start } = dayRange(DAY, tz);
  const one = (id: string, at: number, seconds: number) => round(id, at, [svc('a', at, { calls: [callOf('c', seconds)], settleSeconds: seconds * 10 })]);
  // Whole hours: 0.1 s once, 0.9 s three times; the first half hour: 0.1 s twice.
  const rounds = [one('w1', start + H, 0.1), one('w2', start + H + 60_000, 0.9), one('w3', start + 2 * H, 0.9), one('w4', start + 3 * H, 0.9), one('e1', start, 0.1), one('e2', start + 60_000, 0.1)];
  try {
    for (const r of rounds) store.save(r);
    const d = queryDigest(store, DAY, tz);
    assert.deepEqual([d.services[0].latency, d.services[0].settle], [{ p50: 0.1, p95: 0.9, max: 0.9 }, { p50: 1, p95: 9, max: 9 }]);
    assert.deepEqual(d, buildDigest(rounds, DAY, tz));
  } finally {
    store.close();
  }
});

test("the SLI counts of the hour's rollups and the UTC day's sums; a maintenance verdict is no failure; the round's trace id", () => {
  const store = new SqliteStore(newFile());
  const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
  const at = D0 + 3 * H;
  const counts = (table: 'rollups' | 'sli_days') =>
    store.db.prepare(`SELECT ${table === 'rollups' ? 'slot' : 'day'} AS at, service_id, calls, failed_calls, checks, mismatches FROM ${table} ORDER BY service_id`).raw().all();
  try {
    store.save(
      round('m1', at, [
        svc('ok', at, { calls: [callOf('c', 0.5), callOf('d', 0.5)], traceId: TRACE }),
        svc('bad', at, { verdict: 'metering_mismatch', meteringOk: false, delta: 3, expectedDelta: 1, reason: 'over by 2', calls: [callOf('c', 0.5), callOf('d', 0.5, false)], callOk: false, traceId: TRACE }),
        svc('held', at, { verdict: 'maintenance', reason: 'in a maintenance window', meteringOk: null, delta: null, before: null, after: null, settleSeconds: null, calls: [], authChecks: [], authOk: null }),
      ]),
    );
    // The maintenance verdict is not a failure of the round; the round keeps its services' trace id.
    assert.deepEqual(store.db.prepare('SELECT failed_count, trace_id FROM rounds').raw().get(), [1, TRACE]);
    // A second round of the same hour adds to the counts read back from the rollups.
    store.save(round('m2', at + 60_000, [svc('ok', at + 60_000, { calls: [callOf('c', 0.5)] }), svc('bad', at + 60_000, { verdict: 'call_failed', callOk: false, meteringOk: null, delta: null, calls: [callOf('c', 0.5, false)] })]));
    assert.deepEqual(store.db.prepare("SELECT trace_id FROM rounds WHERE id = 'm2'").pluck().get(), null);
    const slot = slotOf(at);
    const expected = (key: number) => [
      [key, 'bad', 3, 2, 1, 1],
      [key, 'held', 0, 0, 0, 0],
      [key, 'ok', 3, 0, 2, 0],
    ];
    assert.deepEqual(counts('rollups'), expected(slot));
    assert.deepEqual(counts('sli_days'), expected(Math.floor(slot / 24)));
    // The day's mismatch carries its round's trace id.
    assert.deepEqual(store.dayRows(D0, D0 + 24 * H).notable.map((n) => [n.serviceId, n.traceId]), [['bad', TRACE]]);
    // An hour written before the SLI columns (null counts) is rebuilt whole when a round is added to it.
    store.db.prepare('UPDATE rollups SET calls = NULL, failed_calls = NULL, checks = NULL, mismatches = NULL').run();
    store.save(round('m3', at + 120_000, [svc('ok', at + 120_000, { calls: [callOf('c', 0.5)] })]));
    assert.deepEqual(counts('rollups'), [
      [slot, 'bad', 3, 2, 1, 1],
      [slot, 'held', 0, 0, 0, 0],
      [slot, 'ok', 4, 0, 3, 0],
    ]);
  } finally {
    store.close();
  }
});
