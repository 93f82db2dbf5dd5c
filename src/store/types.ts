// Where finished rounds go. The exporter keeps the latest in memory for /metrics; the store keeps
// the history for the API, the status page and the digest.
import type { RoundResult } from '../types.js';

export interface RoundStore {
  save(round: RoundResult): void;
  latest(): RoundResult | null;
  /** Rounds that started on `day` (YYYY-MM-DD) in `timezone`, oldest first. */
  byDay(day: string, timezone: string): RoundResult[];
  /** The last `limit` rounds, newest first (optional: the pages fall back to byDay). */
  recent?(limit: number): RoundResult[];
  close(): void;
}
