// The counts behind the two SLIs (docs/slo.md) over a stretch of history, per service: calls and
// failed calls (availability), judged metering checks and mismatches (metering accuracy). The same
// counts as patrol_calls_total, patrol_call_failures_total, patrol_metering_checks_total and
// patrol_metering_mismatches_total add up, so the digest's budget and the dashboard's agree.
//
// From SQLite over weeks of history without reading every verdict: calls from the hourly rollups
// (their latency histograms hold one entry per call), and the rest from the verdict rows, since
// every verdict that is not a plain ok is a whole row (store/compact.ts) and a plain ok verdict has
// only good calls and a matching metering check.
import type Database from 'better-sqlite3';
import type { RoundResult } from '../types.js';
import type { DayRows } from './rollup.js';

export interface SliCounts {
  serviceId: string;
  name: string;
  calls: number;
  failedCalls: number;
  /** Metering checks judged (both reads worked, same day). */
  checks: number;
  mismatches: number;
  /** When its first round in the whole history started (Unix ms; to the hour from SQLite): a
   *  stretch that starts before it has figures for less time than it spans. */
  firstAt: number;
}

/** The counts of rounds in memory that started in [start, end). */
export function sliCountsOf(rounds: RoundResult[], start: number, end: number): SliCounts[] {
  const out = new Map<string, SliCounts>();
  const firstAt = new Map<string, number>();
  for (const r of [...rounds].sort((a, b) => a.startedAt - b.startedAt)) {
    for (const s of r.services) if (!firstAt.has(s.serviceId)) firstAt.set(s.serviceId, r.startedAt);
    if (r.startedAt < start || r.startedAt >= end) continue;
    for (const s of r.services) {
      let c = out.get(s.serviceId);
      if (!c) out.set(s.serviceId, (c = { serviceId: s.serviceId, name: s.name, calls: 0, failedCalls: 0, checks: 0, mismatches: 0, firstAt: firstAt.get(s.serviceId)! }));
      c.name = s.name;
      c.calls += s.calls.length;
      c.failedCalls += s.calls.filter((x) => !x.ok).length;
      if (s.meteringOk !== null) {
        c.checks++;
        if (!s.meteringOk) c.mismatches++;
      }
    }
  }
  return [...out.values()];
}

/**
 * The counts from a SQLite history for the rounds that started in [start, end): `rows` is what
 * the store's dayRows gives for the same stretch (its rollups, already brought up to date).
 */
export function sliCountsFromDb(db: Database.Database, rows: DayRows, start: number, end: number): SliCounts[] {
  const out = new Map<string, SliCounts>();
  for (const d of rows.services) {
    let calls = 0;
    for (const n of d.latency.values()) calls += n;
    out.set(d.serviceId, { serviceId: d.serviceId, name: d.name, calls, failedCalls: 0, checks: d.verdicts.ok ?? 0, mismatches: 0, firstAt: end });
  }
  const failures = db
    .prepare(
      `SELECT v.service_id AS id,
              sum(CASE WHEN v.call_ok = 0 THEN json_array_length(v.call_reasons) ELSE 0 END) AS failed_calls,
              sum(v.verdict != 'ok' AND v.metering_ok IS NOT NULL) AS checks,
              sum(v.metering_ok = 0) AS mismatches
       FROM rounds r JOIN verdicts v ON v.round_id = r.id
       WHERE r.started_at >= ? AND r.started_at < ?
       GROUP BY v.service_id`,
    )
    .all(start, end) as { id: string; failed_calls: number; checks: number; mismatches: number }[];
  for (const f of failures) {
    const c = out.get(f.id);
    // Every verdict is in the rollups; a row without one would be a rollup not yet rebuilt.
    if (!c) continue;
    c.failedCalls = f.failed_calls;
    c.checks += f.checks;
    c.mismatches = f.mismatches;
  }
  // Rollups go with their rounds when the history is pruned: the oldest one is where it starts.
  const first = db.prepare('SELECT service_id AS id, min(slot) AS slot FROM rollups GROUP BY service_id').all() as { id: string; slot: number }[];
  for (const f of first) {
    const c = out.get(f.id);
    if (c) c.firstAt = f.slot * 3_600_000;
  }
  return [...out.values()];
}
