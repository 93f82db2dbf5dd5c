// Where finished rounds go. The exporter keeps the latest in memory for /metrics; the store keeps
// the history for the API, the pages and the digest.
import type { CounterBaseline, RoundResult, ServiceResult, Verdict } from '../types.js';
import type { DayRows } from './rollup.js';

/** Per service: today's rounds and successes, and its verdicts in the most recent rounds (oldest first). */
export interface ServiceOverview {
  serviceId: string;
  name: string;
  roundsToday: number;
  okToday: number;
  recent: { at: number; verdict: ServiceResult['verdict'] }[];
}

/** One service's verdict in one round, as the details page reads it. */
export interface ServiceHistoryEntry {
  roundId: string;
  roundStartedAt: number;
  result: ServiceResult;
}

export interface RoundStore {
  save(round: RoundResult): void;
  latest(): RoundResult | null;
  /** Rounds that started on `day` (YYYY-MM-DD) in `timezone`, oldest first. */
  byDay(day: string, timezone: string): RoundResult[];
  /** The last `limit` rounds, newest first. */
  recent(limit: number): RoundResult[];
  /** One service's last `limit` verdicts, newest first. */
  serviceHistory(serviceId: string, limit: number): ServiceHistoryEntry[];
  /** The status page's per-service figures for `day`, services in the latest round's order. */
  overview(day: string, timezone: string, recentRounds: number): ServiceOverview[];
  /** What the day's figures are computed from (digest/query.ts), for the rounds that started in [start, end). */
  dayRows(start: number, end: number): DayRows;
  /** One service's verdicts, counted, for the rounds that started in [start, end) (the uptime badge). */
  serviceVerdicts(serviceId: string, start: number, end: number): Partial<Record<Verdict, number>>;
  /** A round is about to make calls (cleared when a round is saved). */
  roundStarting(at: number): void;
  /** When the round was that started and was never saved (the last process died mid-round), or null. */
  interruptedRoundAt(): number | null;
  /** The last known state of every counter (restored at start: usage between rounds is seen across a restart). */
  counterBaselines(): CounterBaseline[];
  /** Each service's completed rounds in a row that were not ok, up to its latest verdict (engine/verdict.ts failureStreak). */
  failureStreaks(serviceIds: string[]): Map<string, number>;
  close(): void;
}
