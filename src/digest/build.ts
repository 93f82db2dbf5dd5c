// The digest's shapes and the table of one round. The figures themselves are computed in one
// place, query.ts, from the history's rollups (or from rollups of
// rounds in memory, the same functions). Rendering (html.ts, text.ts) is separate.
import type { Verdict } from '../types.js';
import type { RoundSummary } from '../present/summary.js';
import { HOURS } from '../store/rollup.js';
import type { ServiceBudget } from './budget.js';

// The latest round's table is the one the pages show too: its summary lives with the presentation.
export { isFailure, summariseRound, type RoundSummary, type TableRow } from '../present/summary.js';

/** Units that appeared on a counter between rounds (README, "Usage between rounds"). */
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
  /** The round's OpenTelemetry trace (docs/tracing.md), when it has one. */
  traceId?: string;
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
  /** Each service's error budget left at the end of the day (budget.ts); absent: not computed. */
  budgets?: ServiceBudget[];
}

/** Mismatches listed one by one in the email; the per-service table counts them all. */
export const MAX_LISTED_MISMATCHES = 100;
