// Rollups: one service's figures over an hour of rounds. The SQLite store writes them in the
// same transaction as the round, so the day's figures are read from ~100 small rows per service
// instead of a day of verdicts; the in-memory paths (run-once, tests) build the very same rollups
// from rounds with the same functions, so both give the same figures.
//
// Hours are UTC hours. A day that starts at a half or three-quarter hour (Asia/Kolkata +05:30,
// Asia/Kathmandu +05:45) has its two partial hours counted from their rounds instead, so its figures
// are exact too; its hourly strip marks then cover UTC hours (e.g. 00:30-01:30 local).
import { VERDICT_OUTCOME, type RoundResult, type ServiceResult, type UnexplainedUsage, type Verdict } from '../types.js';

export const SLOT_MS = 3_600_000;
/** Hours in a UTC day: the SLI counts are also summed per UTC day (sli_days, store/sli.ts). */
export const DAY_SLOTS = 24;

/** The hour (in UTC, since the epoch) a round that started at `at` belongs to. */
export function slotOf(at: number): number {
  return Math.floor(at / SLOT_MS);
}

/** Durations are kept to the millisecond: the digest prints seconds with three decimals. */
export function toMs(seconds: number): number {
  return Math.round(seconds * 1000);
}

/** A verdict that counts as a failure (`indeterminate`, a counter reset across midnight, does not). */
export function isFailure(v: Verdict): boolean {
  return VERDICT_OUTCOME[v] === 'failed';
}

/** Milliseconds to how many times they were seen. */
export type Histogram = Map<number, number>;

export function addTo(h: Histogram, ms: number, n = 1): void {
  h.set(ms, (h.get(ms) ?? 0) + n);
}

// Histograms are stored as varints: (key - previous key, count) pairs in key order. An hour of
// one-minute rounds with two calls is 120 durations; the blob is some 100 bytes.
function putVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

export function encodeHistogram(h: Histogram): Buffer | null {
  if (h.size === 0) return null;
  const out: number[] = [];
  let prev = 0;
  for (const k of [...h.keys()].sort((a, b) => a - b)) {
    // Keys are non-negative integers (a negative duration would be a clock step): kept at 0.
    const key = Math.max(0, k);
    putVarint(out, key - prev);
    putVarint(out, h.get(k)!);
    prev = key;
  }
  return Buffer.from(out);
}

export function decodeHistogram(buf: Uint8Array | null, into: Histogram = new Map()): Histogram {
  if (!buf) return into;
  let i = 0;
  let key = 0;
  // Two varints per entry, read inline (this runs for every rollup row a day's digest reads).
  while (i < buf.length) {
    let delta = 0;
    let scale = 1;
    for (let b = buf[i++]; ; b = buf[i++]) {
      delta += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 0x80;
    }
    let count = 0;
    scale = 1;
    for (let b = buf[i++]; ; b = buf[i++]) {
      count += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 0x80;
    }
    key += delta;
    into.set(key, (into.get(key) ?? 0) + count);
  }
  return into;
}

/** One service's figures over the rounds that started in one hour. */
export interface SlotRollup {
  slot: number;
  serviceId: string;
  /** Its name in the latest of those rounds (`nameAt`: that round's start). */
  name: string;
  nameAt: number;
  /** Finished verdicts (aborted services are in no figure; maintenance is only in `verdicts`). */
  rounds: number;
  verdicts: Partial<Record<Verdict, number>>;
  callFailures: number;
  countQueryFailures: number;
  authFailures: number;
  /** Units of usage between rounds that were findings (late charges, unexplained). */
  unexplainedUnits: number;
  /** The counts behind the SLIs (store/sli.ts): calls made, calls that failed, metering checks
   *  judged and those that mismatched. Kept as integers so a 28-day budget adds up rows, not
   *  histograms. */
  calls: number;
  failedCalls: number;
  checks: number;
  mismatches: number;
  /** Every call's duration, in ms. */
  latency: Histogram;
  /** Settle times of the rounds that settled, in ms. */
  settle: Histogram;
}

export function emptyRollup(slot: number, serviceId: string, name: string, nameAt: number): SlotRollup {
  return { slot, serviceId, name, nameAt, rounds: 0, verdicts: {}, callFailures: 0, countQueryFailures: 0, authFailures: 0, unexplainedUnits: 0, calls: 0, failedCalls: 0, checks: 0, mismatches: 0, latency: new Map(), settle: new Map() };
}

/** A finding of usage between rounds (units that appeared and count), or null. */
export function findingOf(s: Pick<ServiceResult, 'unexplained'>): UnexplainedUsage | null {
  const u = s.unexplained;
  return u && u.units > 0 && u.kind !== 'none' ? u : null;
}

/** What a rollup counts of a verdict (the store rebuilds rollups from its columns, not whole results). */
export type Counted = Pick<ServiceResult, 'name' | 'verdict' | 'callOk' | 'countQueryOk' | 'authOk' | 'settleSeconds' | 'unexplained' | 'meteringOk'> & {
  calls: { durationSeconds: number; ok: boolean }[];
};

/** What one verdict adds to the SLI counts, as the exporter's counters count it: every call made,
 *  the failed ones, and the judged metering checks only (a maintenance verdict has none of them). */
export function sliOf(s: Pick<Counted, 'calls' | 'meteringOk'>): { calls: number; failedCalls: number; checks: number; mismatches: number } {
  let failedCalls = 0;
  for (const c of s.calls) if (!c.ok) failedCalls++;
  return { calls: s.calls.length, failedCalls, checks: s.meteringOk === null ? 0 : 1, mismatches: s.meteringOk === false ? 1 : 0 };
}

/** Adds one finished verdict of a round that started at `roundStartedAt`. */
export function addVerdict(r: SlotRollup, s: Counted, roundStartedAt: number): void {
  // A service in a maintenance window was not inspected: counted among the verdicts (the strip
  // shows it), not among the rounds its success ratio is taken over.
  if (s.verdict !== 'maintenance') r.rounds++;
  r.verdicts[s.verdict] = (r.verdicts[s.verdict] ?? 0) + 1;
  if (!s.callOk) r.callFailures++;
  if (!s.countQueryOk) r.countQueryFailures++;
  if (s.authOk === false) r.authFailures++;
  r.unexplainedUnits += findingOf(s)?.units ?? 0;
  for (const c of s.calls) addTo(r.latency, toMs(c.durationSeconds));
  const sli = sliOf(s);
  r.calls += sli.calls;
  r.failedCalls += sli.failedCalls;
  r.checks += sli.checks;
  r.mismatches += sli.mismatches;
  if (s.settleSeconds !== null) addTo(r.settle, toMs(s.settleSeconds));
  if (roundStartedAt >= r.nameAt) {
    r.name = s.name;
    r.nameAt = roundStartedAt;
  }
}

/** Adds a rollup's counts into another of the same service (the name of the later one wins); histograms are the caller's. */
export function mergeCounts(into: SlotRollup, r: Omit<SlotRollup, 'latency' | 'settle'>): void {
  into.rounds += r.rounds;
  for (const [v, n] of Object.entries(r.verdicts) as [Verdict, number][]) into.verdicts[v] = (into.verdicts[v] ?? 0) + n;
  into.callFailures += r.callFailures;
  into.countQueryFailures += r.countQueryFailures;
  into.authFailures += r.authFailures;
  into.unexplainedUnits += r.unexplainedUnits;
  into.calls += r.calls;
  into.failedCalls += r.failedCalls;
  into.checks += r.checks;
  into.mismatches += r.mismatches;
  if (r.nameAt >= into.nameAt) {
    into.name = r.name;
    into.nameAt = r.nameAt;
  }
}

/** The rollups of some rounds, one per (hour, service). */
export function rollupRounds(rounds: RoundResult[]): SlotRollup[] {
  const out = new Map<string, SlotRollup>();
  for (const round of rounds) {
    const slot = slotOf(round.startedAt);
    for (const s of round.services) {
      const key = `${slot}\u0000${s.serviceId}`;
      let r = out.get(key);
      if (!r) out.set(key, (r = emptyRollup(slot, s.serviceId, s.name, round.startedAt)));
      addVerdict(r, s, round.startedAt);
    }
  }
  return [...out.values()];
}

export const HOURS = 24;

/**
 * The hour of the day (0-23) a slot belongs to: by its start, in proportion to the day, so
 * a 23- or 25-hour day (a DST change) still has 24 marks.
 */
export function hourOfSlot(slot: number, dayStart: number, dayEnd: number): number {
  return Math.max(0, Math.min(HOURS - 1, Math.floor(((slot * SLOT_MS - dayStart) * HOURS) / (dayEnd - dayStart))));
}

/** One service's rollups over a day: the sums, and the verdicts of each hour (for the strip). */
export interface DayRollup extends SlotRollup {
  hours: Partial<Record<Verdict, number>>[];
}

/**
 * Adds a rollup's counts to its service's day (created in `days` when new) and returns that day,
 * for the caller to add the histograms (merged from maps, or decoded straight into it by the store).
 */
export function addToDay(days: Map<string, DayRollup>, r: Omit<SlotRollup, 'latency' | 'settle'>, dayStart: number, dayEnd: number): DayRollup {
  let day = days.get(r.serviceId);
  if (!day) days.set(r.serviceId, (day = { ...emptyRollup(0, r.serviceId, r.name, r.nameAt), hours: Array.from({ length: HOURS }, () => ({})) }));
  mergeCounts(day, r);
  const h = day.hours[hourOfSlot(r.slot, dayStart, dayEnd)];
  for (const [v, n] of Object.entries(r.verdicts) as [Verdict, number][]) h[v] = (h[v] ?? 0) + n;
  return day;
}

/** A verdict the digest lists one by one: a metering mismatch, or usage between rounds. Few a day. */
export type Notable = Pick<ServiceResult, 'serviceId' | 'name' | 'finishedAt' | 'meteringOk' | 'delta' | 'expectedDelta' | 'unexplained' | 'traceId'>;

export function isNotable(s: Notable): boolean {
  return (s.meteringOk === false && s.delta !== null) || findingOf(s) !== null;
}

/** What the store gives for the day's figures: counts, rollups and the few rows listed one by one. */
export interface DayRows {
  /** Rounds that finished at least one service. */
  rounds: number;
  /** Of those, rounds with at least one failure. */
  failedRounds: number;
  /** Rounds cut short by shutdown. */
  abortedRounds: number;
  /** The latest round that finished at least one service. */
  latest: RoundResult | null;
  /** Per service, in no particular order. */
  services: DayRollup[];
  /** In round order, then the round's order. */
  notable: Notable[];
}

function daysOf(rollups: SlotRollup[], dayStart: number, dayEnd: number): DayRollup[] {
  const days = new Map<string, DayRollup>();
  for (const r of rollups) {
    const day = addToDay(days, r, dayStart, dayEnd);
    for (const [k, n] of r.latency) addTo(day.latency, k, n);
    for (const [k, n] of r.settle) addTo(day.settle, k, n);
  }
  return [...days.values()];
}

/** DayRows from rounds in memory (all of them: the caller picks the day's) for the day [dayStart, dayEnd). */
export function dayRowsOf(rounds: RoundResult[], dayStart: number, dayEnd: number): DayRows {
  const sorted = [...rounds].sort((a, b) => a.startedAt - b.startedAt);
  const finished = sorted.filter((r) => r.services.length > 0);
  return {
    rounds: finished.length,
    failedRounds: finished.filter((r) => r.services.some((s) => isFailure(s.verdict))).length,
    abortedRounds: sorted.filter((r) => r.aborted).length,
    latest: finished.at(-1) ?? null,
    services: daysOf(rollupRounds(finished), dayStart, dayEnd),
    notable: finished.flatMap((r) => r.services.filter(isNotable)),
  };
}
