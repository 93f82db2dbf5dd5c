// A bounded in-memory history: enough for `run-once` and for tests that do not care about restarts.
import { applyBaselines } from '../engine/baselines.js';
import { failureStreak } from '../engine/verdict.js';
import type { CounterBaseline, RoundResult, Verdict } from '../types.js';
import { dayIn } from '../util/time.js';
import { overviewFromRounds } from './overview.js';
import { dayRowsOf, type DayRows } from './rollup.js';
import type { RoundStore, ServiceHistoryEntry, ServiceOverview } from './types.js';
import { sliCountsOf, type SliCounts } from './sli.js';

export class MemoryStore implements RoundStore {
  private rounds: RoundResult[] = [];
  private readonly baselines = new Map<string, CounterBaseline>();

  constructor(private readonly max = 2000) {}

  save(round: RoundResult): void {
    this.rounds.push(round);
    applyBaselines(this.baselines, round);
    if (this.rounds.length > this.max) this.rounds.splice(0, this.rounds.length - this.max);
  }

  /** The latest round that finished at least one service (one cut short before any has nothing to show). */
  latest(): RoundResult | null {
    for (let i = this.rounds.length - 1; i >= 0; i--) if (this.rounds[i].services.length > 0) return this.rounds[i];
    return null;
  }

  // Nothing outlives the process here, so no round can be found interrupted.
  roundStarting(): void {}

  interruptedRoundAt(): number | null {
    return null;
  }

  counterBaselines(): CounterBaseline[] {
    return [...this.baselines.values()];
  }

  failureStreaks(serviceIds: string[]): Map<string, number> {
    const wanted = new Set(serviceIds);
    const out = new Map(serviceIds.map((id) => [id, 0]));
    for (const r of this.rounds) {
      for (const s of r.services) if (wanted.has(s.serviceId)) out.set(s.serviceId, failureStreak(out.get(s.serviceId) ?? 0, s.verdict));
    }
    return out;
  }

  byDay(day: string, timezone: string): RoundResult[] {
    return this.rounds.filter((r) => dayIn(timezone, r.startedAt) === day);
  }

  dayRows(start: number, end: number): DayRows {
    return dayRowsOf(this.rounds.filter((r) => r.startedAt >= start && r.startedAt < end), start, end);
  }

  serviceVerdicts(serviceId: string, start: number, end: number): Partial<Record<Verdict, number>> {
    const out: Partial<Record<Verdict, number>> = {};
    for (const r of this.rounds) {
      if (r.startedAt < start || r.startedAt >= end) continue;
      for (const s of r.services) if (s.serviceId === serviceId) out[s.verdict] = (out[s.verdict] ?? 0) + 1;
    }
    return out;
  }

  /** The counts behind the SLIs for the rounds that started in [start, end) (store/sli.ts). */
  sliCounts(start: number, end: number): SliCounts[] {
    return sliCountsOf(this.rounds, start, end);
  }

  recent(limit: number): RoundResult[] {
    return this.rounds.slice(-limit).reverse();
  }

  serviceHistory(serviceId: string, limit: number): ServiceHistoryEntry[] {
    return this.recent(this.rounds.length)
      .flatMap((r) => r.services.filter((s) => s.serviceId === serviceId).map((result) => ({ roundId: r.id, roundStartedAt: r.startedAt, result })))
      .slice(0, limit);
  }

  overview(day: string, timezone: string, recentRounds: number): ServiceOverview[] {
    return overviewFromRounds(this.latest(), this.byDay(day, timezone), this.recent(recentRounds));
  }

  close(): void {}
}
