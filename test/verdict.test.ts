// judge() and failureStreak() on their own: every verdict, its precedence, the flags published next
// to it and the reason people read. Plain data in, no network: fast enough to run for every mutant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failureStreak, judge } from '../src/engine/verdict.js';
import type { AuthCheckResult, CallResult, CounterReading } from '../src/types.js';

const at = 1_700_000_000_000;
const read = (value: number, day = '2024-05-01'): CounterReading => ({ ok: true, value, at, day });
const broken = (reason: string): CounterReading => ({ ok: false, reason, at });
const call = (name: string, units: number, ok = true, reason = ''): CallResult => ({
  name,
  kind: 'http',
  ok,
  durationSeconds: 0.1,
  reason,
  failures: [],
  units,
  extracted: {},
});
const auth = (name: string, outcome: AuthCheckResult['outcome'], reason = ''): AuthCheckResult => ({ name, outcome, durationSeconds: 0.01, reason });

test('ok: the counter rose by exactly the units of the calls', () => {
  const j = judge({ before: read(10), after: read(13), calls: [call('a', 1), call('b', 2)], authChecks: [auth('k', 'rejected')], mode: 'exact' });
  assert.deepEqual(j, { verdict: 'ok', reason: '', delta: 3, expectedDelta: 3, meteringOk: true, callOk: true, authOk: true, countQueryOk: true });
});

test('exact mode: one unit over is an overcharge, one under an undercharge', () => {
  const over = judge({ before: read(10), after: read(14), calls: [call('a', 1), call('b', 2)], authChecks: [], mode: 'exact' });
  assert.equal(over.verdict, 'metering_mismatch');
  assert.equal(over.meteringOk, false);
  assert.equal(over.delta, 4);
  assert.equal(over.reason, 'metering over by 1 (overcharge): counter rose 4, expected 3');
  const under = judge({ before: read(10), after: read(12), calls: [call('a', 1), call('b', 2)], authChecks: [], mode: 'exact' });
  assert.equal(under.verdict, 'metering_mismatch');
  assert.equal(under.reason, 'metering under by 1 (undercharge): counter rose 2, expected 3');
  // No auth check ran: authOk is unknown, not true.
  assert.equal(under.authOk, null);
});

test('at_least mode: more is fine, equal is fine, less is an undercharge', () => {
  const more = judge({ before: read(10), after: read(20), calls: [call('a', 2)], authChecks: [], mode: 'at_least' });
  assert.equal(more.verdict, 'ok');
  assert.equal(more.meteringOk, true);
  const equal = judge({ before: read(10), after: read(12), calls: [call('a', 2)], authChecks: [], mode: 'at_least' });
  assert.equal(equal.verdict, 'ok');
  const less = judge({ before: read(10), after: read(11), calls: [call('a', 2)], authChecks: [], mode: 'at_least' });
  assert.equal(less.verdict, 'metering_mismatch');
  assert.equal(less.reason, 'metering under by 1 (undercharge): counter rose 1, expected at least 2');
});

test('failed calls add 0 units; a charge for them is reported as an overcharge that names them', () => {
  const one = judge({ before: read(0), after: read(2), calls: [call('a', 1), call('b', 0, false, 'status 500')], authChecks: [], mode: 'exact' });
  assert.equal(one.verdict, 'metering_mismatch');
  assert.equal(one.expectedDelta, 1);
  assert.equal(one.callOk, false);
  assert.equal(one.reason, 'metering over by 1 (overcharge): counter rose 2, expected 1; 1 failed call should add 0');
  const two = judge({ before: read(0), after: read(3), calls: [call('a', 1), call('b', 0, false, 'x'), call('c', 0, false, 'y')], authChecks: [], mode: 'exact' });
  assert.equal(two.reason, 'metering over by 2 (overcharge): counter rose 3, expected 1; 2 failed calls should add 0');
});

test('a bad credential accepted outranks everything, and each accepted check is named', () => {
  const j = judge({
    before: read(10),
    after: read(99),
    calls: [call('a', 1, false, 'status 500')],
    authChecks: [auth('wrong_key', 'accepted', 'status 200, expected 401'), auth('no_key', 'rejected'), auth('expired', 'accepted', 'status 200')],
    mode: 'exact',
  });
  assert.equal(j.verdict, 'auth_failed');
  assert.equal(j.authOk, false);
  assert.equal(j.reason, 'auth check wrong_key: status 200, expected 401; auth check expired: status 200');
  // The other outcomes are still measured and published.
  assert.equal(j.meteringOk, false);
  assert.equal(j.callOk, false);
});

test('metering outranks a failed call; a failed call outranks a failed counter read', () => {
  const mismatch = judge({ before: read(0), after: read(5), calls: [call('a', 1, false, 'timeout')], authChecks: [], mode: 'exact' });
  assert.equal(mismatch.verdict, 'metering_mismatch');
  const failed = judge({ before: read(0), after: broken('HTTP 502'), calls: [call('a', 1), call('b', 1, false, 'status 500, expected 200')], authChecks: [], mode: 'exact' });
  assert.equal(failed.verdict, 'call_failed');
  assert.equal(failed.reason, 'call b: status 500, expected 200');
  assert.equal(failed.countQueryOk, false);
  assert.equal(failed.meteringOk, null);
  assert.equal(failed.delta, null);
});

test('an auth check that could not decide is a failed call, not a pass and not a hole', () => {
  const j = judge({ before: read(0), after: read(1), calls: [call('a', 1)], authChecks: [auth('wrong_key', 'error', 'connection refused'), auth('no_key', 'rejected')], mode: 'exact' });
  assert.equal(j.verdict, 'call_failed');
  assert.equal(j.reason, 'auth check wrong_key: connection refused');
  assert.equal(j.callOk, true);
  // One check judged, and it rejected: authOk is true.
  assert.equal(j.authOk, true);
  const only = judge({ before: read(0), after: read(1), calls: [call('a', 1)], authChecks: [auth('wrong_key', 'error', 'refused')], mode: 'exact' });
  // Nothing judged: unknown.
  assert.equal(only.authOk, null);
  const both = judge({ before: read(0), after: read(1), calls: [call('a', 1, false, 'status 500')], authChecks: [auth('k', 'error', 'refused')], mode: 'exact' });
  assert.equal(both.reason, 'call a: status 500; auth check k: refused');
});

test('counter reads: which one failed, and why, in the reason', () => {
  const calls = [call('a', 1)];
  // A failed first read says the calls ran all the same (they may have been charged).
  const ran = ' (the calls still ran: availability and auth were checked, metering could not be judged)';
  const cases: [CounterReading | null, CounterReading | null, string][] = [
    [null, null, 'before: not read'],
    [broken('HTTP 500'), null, `before: HTTP 500${ran}`],
    [broken('HTTP 500'), broken('timeout'), `before: HTTP 500${ran}; after: timeout`],
    [read(1), null, 'after: not read'],
    [read(1), broken('timeout'), 'after: timeout'],
    [null, read(2), 'before: not read'],
  ];
  for (const [before, after, reason] of cases) {
    const j = judge({ before, after, calls, authChecks: [], mode: 'exact' });
    assert.equal(j.verdict, 'count_query_failed', reason);
    assert.equal(j.reason, reason);
    assert.equal(j.countQueryOk, false);
    assert.equal(j.meteringOk, null);
    assert.equal(j.delta, null);
    assert.equal(j.expectedDelta, 1);
  }
});

test('the platform day changed during the round: indeterminate, not a mismatch, even when the delta looks wrong', () => {
  const j = judge({ before: read(500, '2024-05-01'), after: read(1, '2024-05-02'), calls: [call('a', 1)], authChecks: [], mode: 'exact' });
  assert.equal(j.verdict, 'indeterminate');
  assert.equal(j.meteringOk, null);
  assert.equal(j.delta, -499);
  assert.equal(j.countQueryOk, true);
  assert.equal(j.reason, "the platform's day changed during the round (2024-05-01 -> 2024-05-02); counters reset at midnight");
  // Even a delta that happens to match is not judged across the boundary.
  const same = judge({ before: read(5, '2024-05-01'), after: read(6, '2024-05-02'), calls: [call('a', 1)], authChecks: [], mode: 'exact' });
  assert.equal(same.verdict, 'indeterminate');
  assert.equal(same.meteringOk, null);
});

test('a counter that went backwards on the same day was reset: indeterminate', () => {
  const j = judge({ before: read(50), after: read(2), calls: [call('a', 1)], authChecks: [], mode: 'at_least' });
  assert.equal(j.verdict, 'indeterminate');
  assert.equal(j.meteringOk, null);
  assert.equal(j.reason, 'the counter went backwards (50 -> 2): it was reset');
  // Zero expected, zero moved: that is ok, not backwards.
  const zero = judge({ before: read(7), after: read(7), calls: [], authChecks: [], mode: 'exact' });
  assert.equal(zero.verdict, 'ok');
  assert.equal(zero.meteringOk, true);
  assert.equal(zero.delta, 0);
});

test('a failed call or a failed read outranks the day boundary', () => {
  const calls = [call('a', 1, false, 'status 500')];
  assert.equal(judge({ before: read(5, 'd1'), after: read(0, 'd2'), calls, authChecks: [], mode: 'exact' }).verdict, 'call_failed');
});

test('failureStreak: ok resets, indeterminate and maintenance keep, every other verdict adds one', () => {
  assert.equal(failureStreak(4, 'ok'), 0);
  assert.equal(failureStreak(4, 'indeterminate'), 4);
  // A maintenance window is no inspection: the streak neither grows nor resets.
  assert.equal(failureStreak(4, 'maintenance'), 4);
  assert.equal(failureStreak(0, 'maintenance'), 0);
  for (const v of ['call_failed', 'count_query_failed', 'metering_mismatch', 'auth_failed'] as const) assert.equal(failureStreak(4, v), 5, v);
  assert.equal(failureStreak(0, 'call_failed'), 1);
});
