// The digest's figures, computed from stored rounds only (never from memory), so a restart during
// the day loses nothing. Rendering (html.ts, text.ts) is separate: this file only counts.
import type { RoundResult, ServiceResult, Verdict } from '../types.js';
import { dayRange } from '../util/time.js';
import { isFailure, summariseRound, type RoundSummary } from '../present/summary.js';

// The latest round's table is the one the pages show too: its summary lives with the presentation.
export { isFailure, summariseRound, type RoundSummary, type TableRow } from '../present/summary.js';

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
  /** Every call's duration that day, in seconds. */
  latency: Spread | null;
  /** Settle times that day, in seconds (p95 is computed but the digest shows p50 and max). */
  settle: Spread | null;
  /** The day in 24 hourly buckets: how many rounds ended with each verdict (for the strip). */
  hours: VerdictCounts[];
}

export type VerdictCounts = Partial<Record<Verdict, number>>;
export const HOURS = 24;

/** Which hourly bucket of the day an instant falls in. */
export function hourOf(at: number, dayStart: number, dayEnd: number): number {
  // The same arithmetic as the SQL in SqliteStore.digestData, so both put an instant in the same hour.
  return Math.max(0, Math.min(HOURS - 1, Math.floor(((at - dayStart) * HOURS) / (dayEnd - dayStart))));
}

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

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

export function spread(values: number[]): Spread | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), max: sorted[sorted.length - 1] };
}

export function unexplainedOf(s: Pick<ServiceResult, 'serviceId' | 'name' | 'unexplained'>): Unexplained | null {
  const u = s.unexplained;
  if (!u || u.units <= 0 || u.kind === 'none') return null;
  return { serviceId: s.serviceId, name: s.name, at: u.at, units: u.units, kind: u.kind, lagSeconds: u.lagSeconds ?? null, reason: u.reason };
}

function mismatchOf(s: ServiceResult): Mismatch | null {
  if (s.meteringOk !== false || s.delta === null) return null;
  const diff = s.delta - s.expectedDelta;
  return { serviceId: s.serviceId, name: s.name, at: s.finishedAt, direction: diff > 0 ? 'over' : 'under', size: Math.abs(diff), expected: s.expectedDelta, delta: s.delta };
}

/** The digest of `day` from that day's rounds (oldest first, as RoundStore.byDay returns them). */
export function buildDigest(rounds: RoundResult[], day: string, timezone: string): DigestData {
  const { start, end } = dayRange(day, timezone);
  const all = [...rounds].sort((a, b) => a.startedAt - b.startedAt);
  // A round stopped by shutdown before it finished any service has nothing to report.
  const sorted = all.filter((r) => r.services.length > 0);
  const latestRound = sorted.at(-1) ?? null;
  const perService = new Map<string, { name: string; results: ServiceResult[] }>();
  // The latest round's order first (the order of the config), then services seen only earlier.
  for (const s of latestRound?.services ?? []) perService.set(s.serviceId, { name: s.name, results: [] });
  for (const r of sorted) {
    for (const s of r.services) {
      const entry = perService.get(s.serviceId) ?? { name: s.name, results: [] };
      entry.results.push(s);
      perService.set(s.serviceId, entry);
    }
  }
  const services: ServiceDay[] = [...perService.entries()].map(([serviceId, { name, results }]) => {
    const ok = results.filter((s) => s.verdict === 'ok').length;
    return {
      serviceId,
      name,
      rounds: results.length,
      ok,
      successRatio: results.length === 0 ? null : ok / results.length,
      callFailures: results.filter((s) => !s.callOk).length,
      countQueryFailures: results.filter((s) => !s.countQueryOk).length,
      authFailures: results.filter((s) => s.authOk === false).length,
      mismatches: results.map(mismatchOf).filter((m): m is Mismatch => m !== null),
      unexplainedUnits: results.reduce((sum, s) => sum + (unexplainedOf(s)?.units ?? 0), 0),
      latency: spread(results.flatMap((s) => s.calls.map((c) => c.durationSeconds))),
      settle: spread(results.map((s) => s.settleSeconds).filter((v): v is number => v !== null)),
      hours: hourly(results.map((s) => ({ at: s.finishedAt, verdict: s.verdict })), start, end),
    };
  });
  return {
    day,
    timezone,
    dayStart: start,
    dayEnd: end,
    rounds: sorted.length,
    failedRounds: sorted.filter((r) => r.services.some((s) => isFailure(s.verdict))).length,
    abortedRounds: all.filter((r) => r.aborted).length,
    latest: latestRound ? summariseRound(latestRound) : null,
    services,
    mismatches: services.flatMap((s) => s.mismatches).sort((a, b) => a.at - b.at),
    unexplained: sorted
      .flatMap((r) => r.services.map(unexplainedOf))
      .filter((u): u is Unexplained => u !== null)
      .sort((a, b) => a.at - b.at || a.serviceId.localeCompare(b.serviceId)),
  };
}

export function hourly(points: { at: number; verdict: Verdict }[], dayStart: number, dayEnd: number): VerdictCounts[] {
  const hours: VerdictCounts[] = Array.from({ length: HOURS }, () => ({}));
  for (const p of points) {
    const h = hours[hourOf(p.at, dayStart, dayEnd)];
    h[p.verdict] = (h[p.verdict] ?? 0) + 1;
  }
  return hours;
}
