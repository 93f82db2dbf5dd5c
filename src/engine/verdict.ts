// Judging one service's round: separate call, auth and metering outcomes, then one verdict.
// Order of precedence, most serious first: a bad credential accepted (a security hole and free
// usage), wrong metering (money), a failed call, a counter we could not read, a day boundary.
import type { AuthCheckResult, CallResult, CounterReading, Verdict } from '../types.js';

export interface Judgement {
  verdict: Verdict;
  reason: string;
  delta: number | null;
  expectedDelta: number;
  meteringOk: boolean | null;
  callOk: boolean;
  authOk: boolean | null;
  countQueryOk: boolean;
}

export function judge(input: {
  before: CounterReading | null;
  after: CounterReading | null;
  calls: CallResult[];
  authChecks: AuthCheckResult[];
  mode: 'exact' | 'at_least';
}): Judgement {
  const { before, after, calls, authChecks, mode } = input;
  const expectedDelta = calls.reduce((sum, c) => sum + c.units, 0);
  const failedCalls = calls.filter((c) => !c.ok);
  const callOk = failedCalls.length === 0;
  const accepted = authChecks.filter((a) => a.outcome === 'accepted');
  const undecided = authChecks.filter((a) => a.outcome === 'error');
  const judged = authChecks.length - undecided.length;
  const authOk = judged === 0 ? null : accepted.length === 0;

  const countQueryOk = !!before?.ok && !!after?.ok;
  let delta: number | null = null;
  let meteringOk: boolean | null = null;
  let boundary = '';
  if (before?.ok && after?.ok) {
    delta = after.value - before.value;
    if (after.day !== before.day) boundary = `the platform's day changed during the round (${before.day} -> ${after.day}); counters reset at midnight`;
    else if (delta < 0) boundary = `the counter went backwards (${before.value} -> ${after.value}): it was reset`;
    else meteringOk = mode === 'exact' ? delta === expectedDelta : delta >= expectedDelta;
  }

  const base = { delta, expectedDelta, meteringOk, callOk, authOk, countQueryOk };
  if (accepted.length > 0) {
    return { ...base, verdict: 'auth_failed', reason: accepted.map((a) => `auth check ${a.name}: ${a.reason}`).join('; ') };
  }
  if (meteringOk === false) {
    const diff = delta! - expectedDelta;
    const word = diff > 0 ? `over by ${diff} (overcharge)` : `under by ${-diff} (undercharge)`;
    const failedNote = failedCalls.length > 0 ? `; ${failedCalls.length} failed call${failedCalls.length > 1 ? 's' : ''} should add 0` : '';
    const expectation = mode === 'exact' ? `expected ${expectedDelta}` : `expected at least ${expectedDelta}`;
    return { ...base, verdict: 'metering_mismatch', reason: `metering ${word}: counter rose ${delta}, ${expectation}${failedNote}` };
  }
  if (!callOk || undecided.length > 0) {
    const parts = [
      ...failedCalls.map((c) => `call ${c.name}: ${c.reason}`),
      ...undecided.map((a) => `auth check ${a.name}: ${a.reason}`),
    ];
    return { ...base, verdict: 'call_failed', reason: parts.join('; ') };
  }
  if (!countQueryOk) {
    const parts: string[] = [];
    if (!before) parts.push('before: not read');
    // The calls still ran: availability and auth are worth checking while the console is down,
    // and a customer's calls would be made all the same. Say so, since they may have been charged.
    else if (!before.ok) parts.push(`before: ${before.reason} (the calls still ran: availability and auth were checked, metering could not be judged)`);
    if (before?.ok && !after) parts.push('after: not read');
    else if (after && !after.ok) parts.push(`after: ${after.reason}`);
    return { ...base, verdict: 'count_query_failed', reason: parts.join('; ') };
  }
  if (boundary) return { ...base, verdict: 'indeterminate', reason: boundary };
  return { ...base, verdict: 'ok', reason: '' };
}

/**
 * Completed rounds in a row whose verdict was not ok, after one more verdict: 0 after an ok, one
 * more after a failure. `indeterminate` (a counter reset at midnight) is neither: it leaves the
 * count as it was. Aborted services have no verdict and never reach this.
 */
export function failureStreak(previous: number, verdict: Verdict): number {
  if (verdict === 'ok') return 0;
  if (verdict === 'indeterminate') return previous;
  // Not inspected (a maintenance window): no round in the streak's sense, so it neither grows nor resets.
  if (verdict === 'maintenance') return previous;
  return previous + 1;
}
