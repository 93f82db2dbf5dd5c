// The platform's counters reset at midnight (its own day). A round that reads "before" on one day
// and "after" on the next cannot judge metering: the verdict is `indeterminate`, never a mismatch
// or an ok, even when the numbers happen to look right.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judge, failureStreak } from '../src/engine/verdict.js';
import type { AuthCheckResult, CallResult, CounterReading } from '../src/types.js';

const at = Date.parse('2024-05-01T23:59:59+08:00');
const reading = (value: number, day: string, offset = 0): CounterReading => ({ ok: true, value, at: at + offset, day });
const okCall: CallResult = { name: 'recognise', kind: 'http', ok: true, durationSeconds: 0.1, reason: '', failures: [], units: 1, extracted: {} };
const rejected: AuthCheckResult = { name: 'wrong_key', outcome: 'rejected', durationSeconds: 0.05, status: 401, reason: '' };

test('the day changed between the reads: indeterminate, with both days in the reason, whatever the numbers say', () => {
  // Each pair would be judged if both reads were on the same day: an ok, an over-charge, an under-charge.
  for (const [before, after] of [[41, 42], [41, 45], [41, 41], [5000, 1]] as const) {
    for (const mode of ['exact', 'at_least'] as const) {
      const j = judge({ before: reading(before, '2024-05-01'), after: reading(after, '2024-05-02', 2000), calls: [okCall], authChecks: [rejected], mode });
      assert.equal(j.verdict, 'indeterminate', `${before} -> ${after} (${mode}): ${j.reason}`);
      assert.match(j.reason, /the platform's day changed during the round \(2024-05-01 -> 2024-05-02\)/);
      assert.equal(j.meteringOk, null, 'metering not judged');
      assert.equal(j.countQueryOk, true, 'both reads worked');
      assert.equal(j.callOk, true);
      assert.equal(j.delta, after - before);
    }
  }
});

test('the same day on both reads is judged as usual (the rule is about the day, not the clock)', () => {
  const ok = judge({ before: reading(41, '2024-05-02'), after: reading(42, '2024-05-02', 2000), calls: [okCall], authChecks: [rejected], mode: 'exact' });
  assert.equal(ok.verdict, 'ok', ok.reason);
  assert.equal(ok.meteringOk, true);
  const over = judge({ before: reading(41, '2024-05-02'), after: reading(43, '2024-05-02', 2000), calls: [okCall], authChecks: [rejected], mode: 'exact' });
  assert.equal(over.verdict, 'metering_mismatch');
});

test('a day change does not hide what is more serious: a failed call, a bad credential accepted', () => {
  const failed = judge({ before: reading(41, '2024-05-01'), after: reading(41, '2024-05-02', 2000), calls: [{ ...okCall, ok: false, units: 0, reason: 'status: expected 200, got 500' }], authChecks: [rejected], mode: 'exact' });
  assert.equal(failed.verdict, 'call_failed');
  const accepted = judge({
    before: reading(41, '2024-05-01'),
    after: reading(42, '2024-05-02', 2000),
    calls: [okCall],
    authChecks: [{ ...rejected, outcome: 'accepted', status: 200, reason: 'bad credential accepted' }],
    mode: 'exact',
  });
  assert.equal(accepted.verdict, 'auth_failed');
});

test('an indeterminate round neither ends nor extends a failure streak', () => {
  assert.equal(failureStreak(3, 'indeterminate'), 3);
  assert.equal(failureStreak(0, 'indeterminate'), 0);
  assert.equal(failureStreak(3, 'ok'), 0);
  assert.equal(failureStreak(3, 'metering_mismatch'), 4);
});
