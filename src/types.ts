// Result types shared by the probes, the round engine, the metrics, the history store and the pages.
// Failures are data: every probe returns one of these, with reasons, and never throws.

export type Verdict =
  | 'ok'
  | 'call_failed'
  | 'count_query_failed'
  | 'metering_mismatch'
  | 'auth_failed'
  | 'indeterminate';

export type CallKind = 'http' | 'websocket' | 'script';

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
  kind: CallKind;
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
}

export type RoundTrigger = 'startup' | 'schedule' | 'api' | 'cli';

export interface RoundResult {
  id: string;
  trigger: RoundTrigger;
  startedAt: number;
  finishedAt: number;
  durationSeconds: number;
  /** True when the round hit its deadline or was aborted by shutdown. */
  aborted: boolean;
  services: ServiceResult[];
}
