// The day's figures, computed in one place: from what the history gives for a day (counts, the
// hourly rollups and the few verdicts listed one by one), whether that comes from the SQLite
// store (rollups written as rounds were saved) or from rounds in memory (store/rollup.ts dayRowsOf).
import { dayRowsOf, findingOf, type DayRows, type Histogram, type Notable } from '../store/rollup.js';
import type { RoundResult } from '../types.js';
import { dayRange } from '../util/time.js';
import { summariseRound, type DigestData, type Mismatch, type ServiceDay, type Spread, type Unexplained } from './build.js';

/** What the digest needs from a history: the narrow view of a store. */
export interface DaySource {
  /** The rounds that started in [start, end) (Unix ms). */
  dayRows(start: number, end: number): DayRows;
}

/** The digest of `day` (in `timezone`) from a history. */
export function queryDigest(source: DaySource, day: string, timezone: string): DigestData {
  const { start, end } = dayRange(day, timezone);
  return digestOf(source.dayRows(start, end), day, timezone);
}

/** The digest of `day` from that day's rounds in memory (run-once --mail, tests): the same figures as from the history. */
export function buildDigest(rounds: RoundResult[], day: string, timezone: string): DigestData {
  const { start, end } = dayRange(day, timezone);
  return digestOf(dayRowsOf(rounds, start, end), day, timezone);
}

/** Nearest-rank percentile over a histogram of milliseconds, in seconds. Exact to the millisecond. */
export function spreadOf(h: Histogram): Spread | null {
  if (h.size === 0) return null;
  const keys = [...h.keys()].sort((a, b) => a - b);
  let total = 0;
  for (const k of keys) total += h.get(k)!;
  const at = (p: number) => {
    const rank = Math.min(total, Math.max(1, Math.ceil((p / 100) * total)));
    let seen = 0;
    for (const k of keys) {
      seen += h.get(k)!;
      if (seen >= rank) return k / 1000;
    }
    return keys[keys.length - 1] / 1000;
  };
  return { p50: at(50), p95: at(95), max: keys[keys.length - 1] / 1000 };
}

function mismatchOf(s: Notable): Mismatch | null {
  if (s.meteringOk !== false || s.delta === null) return null;
  const diff = s.delta - s.expectedDelta;
  return { serviceId: s.serviceId, name: s.name, at: s.finishedAt, direction: diff > 0 ? 'over' : 'under', size: Math.abs(diff), expected: s.expectedDelta, delta: s.delta, ...(s.traceId ? { traceId: s.traceId } : {}) };
}

function unexplainedOf(s: Notable): Unexplained | null {
  const u = findingOf(s);
  if (!u || u.kind === 'none') return null;
  return { serviceId: s.serviceId, name: s.name, at: u.at, units: u.units, kind: u.kind, lagSeconds: u.lagSeconds ?? null, reason: u.reason };
}

/** The figures of a day from its rows. A verdict is in the hour its round started in. */
export function digestOf(rows: DayRows, day: string, timezone: string): DigestData {
  const { start, end } = dayRange(day, timezone);
  const perService = new Map(rows.services.map((d) => [d.serviceId, d]));
  const mismatches = rows.notable.map(mismatchOf).filter((m): m is Mismatch => m !== null).sort((a, b) => a.at - b.at);
  const mismatchesOf = new Map<string, Mismatch[]>();
  for (const m of mismatches) mismatchesOf.set(m.serviceId, [...(mismatchesOf.get(m.serviceId) ?? []), m]);
  const unexplained = rows.notable
    .map(unexplainedOf)
    .filter((u): u is Unexplained => u !== null)
    .sort((a, b) => a.at - b.at || a.serviceId.localeCompare(b.serviceId));
  const latest = rows.latest;
  // The latest round's order (the config's) first, then services seen only earlier in the day.
  const order = new Map((latest?.services ?? []).map((s, i) => [s.serviceId, i]));
  const ids = [...perService.keys()].sort((a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity) || a.localeCompare(b));
  const services: ServiceDay[] = ids.map((id) => {
    const t = perService.get(id)!;
    const ok = t.verdicts.ok ?? 0;
    return {
      serviceId: id,
      name: t.name,
      rounds: t.rounds,
      ok,
      successRatio: t.rounds === 0 ? null : ok / t.rounds,
      callFailures: t.callFailures,
      countQueryFailures: t.countQueryFailures,
      authFailures: t.authFailures,
      mismatches: mismatchesOf.get(id) ?? [],
      unexplainedUnits: t.unexplainedUnits,
      latency: spreadOf(t.latency),
      settle: spreadOf(t.settle),
      hours: t.hours,
    };
  });
  return {
    day,
    timezone,
    dayStart: start,
    dayEnd: end,
    rounds: rows.rounds,
    failedRounds: rows.failedRounds,
    abortedRounds: rows.abortedRounds,
    latest: latest ? summariseRound(latest) : null,
    services,
    mismatches,
    unexplained,
  };
}
