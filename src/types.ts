// Result types shared by the probes, the round engine, the metrics, the history store and the pages.
// Failures are data: every probe returns one of these, with reasons, and never throws.

/** Every verdict, once. A table keyed by verdict is a `Record<Verdict, ...>`, so the compiler
 *  refuses one that leaves a verdict out (labels, colours, severity, outcome). */
export const VERDICTS = ['ok', 'call_failed', 'count_query_failed', 'metering_mismatch', 'auth_failed', 'indeterminate', 'maintenance'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** How a verdict counts: `indeterminate` (a counter reset across midnight) is neither a success nor
 *  a failure, and is counted on its own. */
export const VERDICT_OUTCOME: Record<Verdict, 'ok' | 'failed' | 'other'> = {
  ok: 'ok',
  call_failed: 'failed',
  count_query_failed: 'failed',
  metering_mismatch: 'failed',
  auth_failed: 'failed',
  indeterminate: 'other',
  // Inside a maintenance window: not inspected at all (docs/maintenance.md), so neither.
  maintenance: 'other',
};

/** One expectation that was not met, with the value actually seen (already redacted and truncated). */
export interface FailedExpectation {
  /** What was checked, e.g. `status`, `json code`, `duration`. */
  check: string;
  expected: string;
  actual: string;
}

/** What one call (or one auth check attempt) did. */
export interface CallResult {
  name: string;
  /** The call's kind: a key of the kinds registry (src/probes/registry.ts). */
  kind: string;
  /** Every expectation met. */
  ok: boolean;
  /** Wall time of the call in seconds (connect to last byte / last frame / process exit). */
  durationSeconds: number;
  /** Time to the first answer frame (WebSocket calls only). */
  firstFrameSeconds?: number;
  /** HTTP status, WebSocket handshake status, or process exit code, when there was one. */
  status?: number;
  /** One line saying why the call failed (empty when ok). */
  reason: string;
  failures: FailedExpectation[];
  /** Units this call is expected to add to the counter: its configured units when ok, 0 when failed. */
  units: number;
  /** Values extracted for later calls (names only are safe to show; values may be redacted). */
  extracted: Record<string, string>;
  /** Short, redacted excerpts for the details page. */
  requestExcerpt?: string;
  responseExcerpt?: string;
}

/** An auth check: a call with bad credentials that must be rejected. */
export interface AuthCheckResult {
  name: string;
  /**
   * `rejected`: the platform refused the bad credential (good).
   * `accepted`: it let the bad credential through (a security hole and free usage).
   * `error`: we could not tell (timeout, connection error); not an acceptance.
   */
  outcome: 'rejected' | 'accepted' | 'error';
  durationSeconds: number;
  status?: number;
  reason: string;
  responseExcerpt?: string;
}

export type CounterReading =
  | { ok: true; value: number; at: number; day: string }
  | { ok: false; reason: string; at: number };

export interface ServiceResult {
  serviceId: string;
  name: string;
  appId: string;
  verdict: Verdict;
  /** One line for people: why the verdict is what it is. */
  reason: string;
  startedAt: number;
  finishedAt: number;
  before: CounterReading | null;
  after: CounterReading | null;
  /** after - before, when both reads worked. */
  delta: number | null;
  /** Units the successful calls should have added. */
  expectedDelta: number;
  meteringMode: 'exact' | 'at_least';
  /** null when the metering could not be judged (a failed read or a day boundary). */
  meteringOk: boolean | null;
  callOk: boolean;
  /** null when the service has no auth checks, or none could be judged. */
  authOk: boolean | null;
  countQueryOk: boolean;
  /** Seconds from the last call until the counter first showed the expected delta; null when it never did. */
  settleSeconds: number | null;
  calls: CallResult[];
  authChecks: AuthCheckResult[];
  /**
   * What the counter did between the previous read of it (by this service or one sharing the
   * counter, in an earlier round) and this round's first read. Absent when there was nothing to
   * compare with: no earlier read, a new day, a counter that went backwards, a failed first read.
   */
  unexplained?: UnexplainedUsage;
  /** Where the next round's first read of this counter is compared from (absent: nothing read). */
  baseline?: CounterBaseline;
  /** The OpenTelemetry trace of the round this verdict came from (32 hex digits; docs/tracing.md). */
  traceId?: string;
}

/**
 * The last known state of one platform counter after a service's round. Kept per counter key (the
 * platform and the request that reads it), so services that share a counter share one.
 */
export interface CounterBaseline {
  counterKey: string;
  /** The service whose round left it. */
  serviceId: string;
  /** The last successful read: its value, when, and the platform's day it belongs to. */
  value: number;
  at: number;
  day: string;
  /** Units our own successful calls should still add (made, but not seen yet: an aborted round, a failed read). */
  inFlight: number;
  /** Units that round was short by (an undercharge verdict): a late charge would be exactly these. */
  shortfall: number;
  /** When that round's last call ended (null: no call made). */
  lastCallAt: number | null;
  /**
   * Units a round stopped by shutdown found between rounds (at its first read, before its own calls)
   * and could not report: the next round reports them on top of what it finds. Kept apart from the
   * value, so the allowance for the stopped round's own calls (inFlight) cannot absorb them.
   */
  unreported?: number;
}

/** Counter movement between rounds (README.md "Usage between rounds"). */
export interface UnexplainedUsage {
  /** Units nobody in this config accounts for; 0 when the counter stood still. */
  units: number;
  /**
   * `none`: nothing moved. `late_charge`: exactly the previous round's shortfall arrived after that
   * round stopped waiting. `unexplained`: usage no call in this config made (other traffic on the app
   * id, a leaked key, a billing bug).
   */
  kind: 'none' | 'late_charge' | 'unexplained';
  /** The read compared from. */
  since: { serviceId: string; value: number; at: number };
  /** This round's first read. */
  value: number;
  at: number;
  /** late_charge: the real metering lag, bounded by the reads (it had not arrived at the last read, it had at this one). */
  lagSeconds?: { min: number; max: number };
  /** One line for people (empty for `none`). */
  reason: string;
}

/** A service a round did not finish because the exporter was stopped: not a verdict, not a failure. */
export interface AbortedService {
  serviceId: string;
  name: string;
  appId: string;
  startedAt: number;
  reason: string;
  /** What it read and made before it stopped (calls it made may still be charged). */
  baseline?: CounterBaseline;
}

export type RoundTrigger = 'startup' | 'schedule' | 'api' | 'cli';

export interface RoundResult {
  id: string;
  trigger: RoundTrigger;
  startedAt: number;
  finishedAt: number;
  durationSeconds: number;
  /**
   * True when shutdown cut the round short: `services` holds only what it finished, the rest is in
   * `abortedServices`. (A round that hits round_timeout is not aborted: its unfinished services fail
   * with a reason, and `timedOut` is set.)
   */
  aborted: boolean;
  timedOut?: boolean;
  /** Finished services, each with its verdict. */
  services: ServiceResult[];
  /** Services not finished because of shutdown (absent or empty when none). */
  abortedServices?: AbortedService[];
}
