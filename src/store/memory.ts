// A bounded in-memory history: enough for `run-once` and for tests that do not care about restarts.
import type { RoundResult } from '../types.js';
import { dayIn } from '../util/time.js';
import { overviewFromRounds } from './overview.js';
import type { RoundStore, ServiceHistoryEntry, ServiceOverview } from './types.js';

export class MemoryStore implements RoundStore {
  private rounds: RoundResult[] = [];

  constructor(private readonly max = 2000) {}

  save(round: RoundResult): void {
    this.rounds.push(round);
    if (this.rounds.length > this.max) this.rounds.splice(0, this.rounds.length - this.max);
  }

  latest(): RoundResult | null {
    return this.rounds.at(-1) ?? null;
  }

  byDay(day: string, timezone: string): RoundResult[] {
    return this.rounds.filter((r) => dayIn(timezone, r.startedAt) === day);
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
