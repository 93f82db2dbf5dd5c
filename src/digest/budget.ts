// Each service's error budget left (docs/slo.md, "Digest"), from the history over each objective's
// window ending at the end of the reported day (or now, for today): the figures of the SLO table
// the digest shows under the day's.
import type { Config } from '../config/schema.js';
import { budgetRatio, serviceSlo, SLIS, type Sli } from '../config/slo.js';
import type { SliCounts } from '../store/sli.js';

/** What the budgets need from a history. */
export interface SliSource {
  sliCounts(start: number, end: number): SliCounts[];
}

export interface ServiceBudget {
  serviceId: string;
  name: string;
  sli: Sli;
  /** The objective as written (99.9). */
  objective: number;
  windowMs: number;
  /** Good and all events over the window (calls, or judged metering checks). */
  good: number;
  total: number;
  /** 1 - error ratio / budget: 1 untouched, 0 spent, below 0 overspent; null without events. */
  remaining: number | null;
  /** When the history starts, when that is inside the window (the figures cover less than it). */
  since: number | null;
}

/** The budgets of the configured services, in the config's order, availability first. */
export function budgetsOf(config: Pick<Config, 'global' | 'services'>, counts: (windowMs: number) => SliCounts[], windowEnd: number): ServiceBudget[] {
  const cache = new Map<number, Map<string, SliCounts>>();
  const countsFor = (windowMs: number) => {
    let m = cache.get(windowMs);
    if (!m) cache.set(windowMs, (m = new Map(counts(windowMs).map((c) => [c.serviceId, c]))));
    return m;
  };
  const out: ServiceBudget[] = [];
  for (const s of config.services) {
    const slo = serviceSlo(config.global.slo, s.slo);
    for (const sli of SLIS) {
      const o = slo[sli];
      const c = countsFor(o.windowMs).get(s.id);
      const total = c ? (sli === 'availability' ? c.calls : c.checks) : 0;
      const bad = c ? (sli === 'availability' ? c.failedCalls : c.mismatches) : 0;
      const start = windowEnd - o.windowMs;
      out.push({
        serviceId: s.id,
        name: s.name ?? c?.name ?? s.id,
        sli,
        objective: o.percent,
        windowMs: o.windowMs,
        good: total - bad,
        total,
        remaining: total === 0 ? null : 1 - bad / total / budgetRatio(o),
        since: c && c.firstAt > start ? c.firstAt : null,
      });
    }
  }
  return out;
}

/** The budgets over the windows that end at `windowEnd` (Unix ms), from a history. */
export function queryBudgets(source: SliSource, config: Pick<Config, 'global' | 'services'>, windowEnd: number): ServiceBudget[] {
  return budgetsOf(config, (windowMs) => source.sliCounts(windowEnd - windowMs, windowEnd), windowEnd);
}

/** The day's digest with the budgets as they stood at the end of that day (or at `now`, for today). */
export function withBudgets<T extends { dayEnd: number }>(data: T, source: SliSource, config: Pick<Config, 'global' | 'services'>, now: number): T & { budgets: ServiceBudget[] } {
  return { ...data, budgets: queryBudgets(source, config, Math.min(data.dayEnd, now)) };
}
