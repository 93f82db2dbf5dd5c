// The status page's per-service figures, gathered the same way by both stores.
import type { RoundResult } from '../types.js';
import type { ServiceOverview } from './types.js';

/** Entries by service id, created in first-seen order (the latest round's order when it comes first). */
export function overviewCollector(): { entry: (id: string, name: string) => ServiceOverview; values: () => ServiceOverview[] } {
  const out = new Map<string, ServiceOverview>();
  return {
    entry(id, name) {
      let o = out.get(id);
      if (!o) {
        o = { serviceId: id, name, roundsToday: 0, okToday: 0, recent: [] };
        out.set(id, o);
      }
      return o;
    },
    values: () => [...out.values()],
  };
}

/** The same figures as SqliteStore.overview, from rounds in memory. */
export function overviewFromRounds(latest: RoundResult | null, today: RoundResult[], recent: RoundResult[]): ServiceOverview[] {
  const { entry, values } = overviewCollector();
  for (const s of latest?.services ?? []) entry(s.serviceId, s.name);
  for (const r of [...recent].sort((a, b) => a.startedAt - b.startedAt)) for (const s of r.services) entry(s.serviceId, s.name).recent.push({ at: s.finishedAt, verdict: s.verdict });
  for (const r of today) {
    for (const s of r.services) {
      const o = entry(s.serviceId, s.name);
      // As in the rollups: a maintenance verdict is not a round of the day's ratio.
      if (s.verdict === 'maintenance') continue;
      o.roundsToday++;
      if (s.verdict === 'ok') o.okToday++;
    }
  }
  return values();
}
