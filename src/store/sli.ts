// The counts behind the two SLIs (docs/slo.md) over a stretch of history, per service: calls and
// failed calls (availability), judged metering checks and mismatches (metering accuracy). The same
// counts as patrol_calls_total, patrol_call_failures_total, patrol_metering_checks_total and
// patrol_metering_mismatches_total add up, so the digest's budget and the dashboard's agree.
//
// From SQLite over weeks of history: each hourly rollup carries these four counts, and so does
// each UTC day's row of sli_days (both written in the round's transaction), so a 28-day window
// reads ~28 rows of integers per service and at most 46 hourly rollups around them. Rollups written before
// those columns (null) are counted the old way until the maintenance schedule rebuilds their hours:
// calls from their latency histograms (one entry per call), the rest from the verdict rows, since
// every verdict that is not a plain ok is a whole row (store/compact.ts) and a plain ok verdict has
// only good calls and a matching metering check.
import type Database from 'better-sqlite3';
import type { RoundResult } from '../types.js';
import { DAY_SLOTS, decodeHistogram, SLOT_MS, type SlotRollup } from './rollup.js';

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
 * The counts from a SQLite history for the rounds that started in [start, end): the rollups of the
 * whole hours inside it (already brought up to date by the caller), and `edges`, the rollups of the
 * hours it cuts (built from those rounds).
 */
export function sliCountsFromDb(db: Database.Database, start: number, end: number, edges: SlotRollup[]): SliCounts[] {
  const out = new Map<string, SliCounts & { nameAt: number }>();
  const add = (serviceId: string, name: string, nameAt: number, calls: number, failedCalls: number, checks: number, mismatches: number) => {
    let c = out.get(serviceId);
    if (!c) out.set(serviceId, (c = { serviceId, name, nameAt, calls: 0, failedCalls: 0, checks: 0, mismatches: 0, firstAt: end }));
    c.calls += calls;
    c.failedCalls += failedCalls;
    c.checks += checks;
    c.mismatches += mismatches;
    if (nameAt >= c.nameAt) {
      c.name = name;
      c.nameAt = nameAt;
    }
  };
  // Whole UTC days inside the stretch from their sums, the hours around them from the hourly
  // rollups (at most 23 on each side), and the hours it cuts from `edges`.
  const hours = [Math.ceil(start / SLOT_MS), Math.floor(end / SLOT_MS)];
  const days = [Math.ceil(hours[0] / DAY_SLOTS), Math.floor(hours[1] / DAY_SLOTS)];
  const hourRanges = days[0] < days[1] ? [[hours[0], days[0] * DAY_SLOTS], [days[1] * DAY_SLOTS, hours[1]]] : [hours];
  // With max(), SQLite gives the other bare columns (name) from the row holding the maximum.
  if (days[0] < days[1]) {
    const rows = db
      .prepare('SELECT service_id, name, max(name_at), sum(calls), sum(failed_calls), sum(checks), sum(mismatches) FROM sli_days WHERE day >= ? AND day < ? GROUP BY service_id')
      .raw()
      .all(...days) as [string, string, number, number, number, number, number][];
    for (const row of rows) add(...row);
  }
  const sums = db.prepare(
    `SELECT service_id, name, max(name_at), sum(calls), sum(failed_calls), sum(checks), sum(mismatches)
     FROM rollups WHERE slot >= ? AND slot < ? AND calls IS NOT NULL GROUP BY service_id`,
  );
  for (const [from, to] of hourRanges) if (from < to) for (const row of sums.raw().all(from, to) as [string, string, number, number, number, number, number][]) add(...row);
  // Rollups without the counts are in no day's sums: counted from the hours, whole days included.
  legacyCounts(db, hours, add);
  for (const r of edges) add(r.serviceId, r.name, r.nameAt, r.calls, r.failedCalls, r.checks, r.mismatches);
  // Rollups go with their rounds when the history is pruned: the oldest one is where it starts.
  // One seek per service in the index on (service_id, slot), not a pass over every rollup.
  const first = db.prepare('SELECT min(slot) FROM rollups WHERE service_id = ?').pluck();
  for (const c of out.values()) {
    const slot = first.get(c.serviceId) as number | null;
    if (slot !== null) c.firstAt = slot * SLOT_MS;
  }
  return [...out.values()].map(({ nameAt: _, ...c }) => c);
}

/** The counts of the rollups in the hours [from, to) written before the SLI columns (none, once rebuilt). */
function legacyCounts(db: Database.Database, [from, to]: number[], add: (id: string, name: string, nameAt: number, calls: number, failed: number, checks: number, mismatches: number) => void): void {
  // Every such rollup's hour is listed in rollup_sli_pending until rebuilt: no scan of the window.
  const pending = db.prepare('SELECT slot FROM rollup_sli_pending WHERE slot >= ? AND slot < ?').pluck().all(from, to) as number[];
  if (pending.length === 0) return;
  const rows = db
    .prepare('SELECT slot, service_id, name, name_at, ok, latency FROM rollups WHERE slot IN (SELECT value FROM json_each(?)) AND calls IS NULL')
    .raw()
    .all(JSON.stringify(pending)) as [number, string, string, number, number, Buffer | null][];
  if (rows.length === 0) return;
  const pairs = new Set<string>();
  for (const [slot, serviceId, name, nameAt, ok, latency] of rows) {
    let calls = 0;
    for (const n of decodeHistogram(latency).values()) calls += n;
    // A plain ok verdict is a judged check that matched.
    add(serviceId, name, nameAt, calls, 0, ok, 0);
    pairs.add(`${slot}\u0000${serviceId}`);
  }
  const slots = [...new Set(rows.map((r) => r[0]))];
  const failures = db
    .prepare(
      `SELECT r.started_at / ${SLOT_MS} AS slot, v.service_id,
              sum(CASE WHEN v.call_ok = 0 THEN json_array_length(v.call_reasons) ELSE 0 END),
              sum(v.verdict != 'ok' AND v.metering_ok IS NOT NULL),
              sum(v.metering_ok = 0)
       FROM rounds r JOIN verdicts v ON v.round_id = r.id
       WHERE r.started_at >= ? AND r.started_at < ? AND r.started_at / ${SLOT_MS} IN (SELECT value FROM json_each(?))
       GROUP BY slot, v.service_id`,
    )
    .raw()
    .all(from * SLOT_MS, to * SLOT_MS, JSON.stringify(slots)) as [number, string, number, number, number][];
  // Names come from the rollups (added above); -1 never wins over them.
  for (const [slot, serviceId, failed, checks, mismatches] of failures) if (pairs.has(`${slot}\u0000${serviceId}`)) add(serviceId, '', -1, 0, failed, checks, mismatches);
}
