// The counters' last known states, carried from round to round (and restored from the history at
// start), so each round's first read can be compared with the last read before it.
import type { CounterBaseline, RoundResult } from '../types.js';

/** The baselines a round leaves, with when each was left, oldest first (for a shared counter the last one wins). */
export function baselinesOf(round: RoundResult): { baseline: CounterBaseline; at: number }[] {
  const out: { baseline: CounterBaseline; at: number }[] = [];
  for (const s of round.services) if (s.baseline) out.push({ baseline: s.baseline, at: s.finishedAt });
  // A service stopped by shutdown left its baseline when the round ended.
  for (const a of round.abortedServices ?? []) if (a.baseline) out.push({ baseline: a.baseline, at: round.finishedAt });
  return out.sort((a, b) => a.at - b.at);
}

/** Apply a round's baselines to a map by counter key. */
export function applyBaselines(map: Map<string, CounterBaseline>, round: RoundResult): void {
  for (const { baseline } of baselinesOf(round)) map.set(baseline.counterKey, baseline);
}
