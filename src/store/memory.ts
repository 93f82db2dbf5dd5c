// A bounded in-memory history: enough for `run-once` and for tests that do not care about restarts.
import type { RoundResult } from '../types.js';
import { dayIn } from '../util/time.js';
import type { RoundStore } from './types.js';

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

  close(): void {}
}
