// The digest's shapes and the table of one round. The figures themselves are computed in one
// place, query.ts, from the history's rollups (or from rollups of
// rounds in memory, the same functions). Rendering (html.ts, text.ts) is separate.
import type { RoundResult, ServiceResult, Verdict } from '../types.js';
import { HOURS, isFailure } from '../store/rollup.js';

/** A verdict that counts as a failure in the table and the 失败 count. `indeterminate` (a counter
 *  reset across midnight) is neither a success nor a failure: it is counted on its own. */
export { isFailure };

/** One row of the original table. Metering and call are judged separately (DESIGN.md section 4). */
export interface TableRow {
  serviceId: string;
  name: string;
  before: { ok: true; value: number } | { ok: false } | null;
  after: { ok: true; value: number } | { ok: false } | null;
  /** null: not judged; `countQueryOk` says whether because a read failed. */
  meteringOk: boolean | null;
  countQueryOk: boolean;
  callOk: boolean;
  verdict: Verdict;
  reason: string;
  failed: boolean;
}

export interface RoundSummary {
  id: string;
  startedAt: number;
  finishedAt: number;
  run: number;
  ok: number;
  failed: number;
  /** Neither ok nor failed (indeterminate). */
  other: number;
  /** Services shutdown stopped before they finished: not in the rows, not counted as run. */
  aborted: number;
  rows: TableRow[];
}

/** Units that appeared on a counter between rounds (DESIGN.md section 9). */
export interface Unexplained {
  serviceId: string;
  name: string;
  /** When this round's first read saw them. */
  at: number;
  units: number;
  kind: 'late_charge' | 'unexplained';
  /** late_charge: the real metering lag, bounded by the reads. */
  lagSeconds: { min: number; max: number } | null;
  reason: string;
}

export interface Mismatch {
  serviceId: string;
  name: string;
  at: number;
  direction: 'over' | 'under';
  /** |delta - expected| */
  size: number;
  expected: number;
  delta: number;
}

export interface Spread {
  p50: number;
  p95: number;
  max: number;
}

export interface ServiceDay {
  serviceId: string;
  name: string;
  rounds: number;
  ok: number;
  /** ok / rounds; null when there was no round. */
  successRatio: number | null;
  callFailures: number;
  countQueryFailures: number;
  authFailures: number;
  mismatches: Mismatch[];
  /** Units that appeared between its rounds that day (late charges and unexplained usage). */
  unexplainedUnits: number;
  /** Every call's duration that day, in seconds (to the millisecond). */
  latency: Spread | null;
  /** Settle times that day, in seconds (p95 is computed but the digest shows p50 and max). */
  settle: Spread | null;
  /** The day in 24 hourly buckets (by the round's start): how many verdicts of each kind (for the strip). */
  hours: VerdictCounts[];
}

export type VerdictCounts = Partial<Record<Verdict, number>>;
export { HOURS };

export interface DigestData {
  day: string;
  timezone: string;
  dayStart: number;
  dayEnd: number;
  /** Rounds that finished at least one service (a round stopped by shutdown counts for what it finished). */
  rounds: number;
  /** Rounds with at least one failed service. */
  failedRounds: number;
  /** Rounds cut short by shutdown (their unfinished services are in no figure). */
  abortedRounds: number;
  latest: RoundSummary | null;
  services: ServiceDay[];
  /** Every mismatch of the day, in time order. */
  mismatches: Mismatch[];
  /** Every finding of usage between rounds (units > 0), in time order. */
  unexplained: Unexplained[];
}

/** Mismatches listed one by one in the email; the per-service table counts them all. */
export const MAX_LISTED_MISMATCHES = 100;

const readingOf = (r: ServiceResult['before']): TableRow['before'] => (r === null ? null : r.ok ? { ok: true, value: r.value } : { ok: false });

export function summariseRound(round: RoundResult): RoundSummary {
  const rows: TableRow[] = round.services.map((s) => ({
    serviceId: s.serviceId,
    name: s.name,
    before: readingOf(s.before),
    after: readingOf(s.after),
    meteringOk: s.meteringOk,
    countQueryOk: s.countQueryOk,
    callOk: s.callOk,
    verdict: s.verdict,
    reason: s.reason,
    failed: isFailure(s.verdict),
  }));
  const ok = rows.filter((r) => r.verdict === 'ok').length;
  const failed = rows.filter((r) => r.failed).length;
  return { id: round.id, startedAt: round.startedAt, finishedAt: round.finishedAt, run: rows.length, ok, failed, other: rows.length - ok - failed, aborted: round.abortedServices?.length ?? 0, rows };
}
