// Maintenance windows (docs/maintenance.md): when they are, which services they cover, and the
// result a covered service gets in a round. A service inside a window is not inspected at all: no
// counter read, no call, no auth check (a platform under maintenance may fail them, bill them, or
// both). Its verdict is `maintenance`, which is not a failure anywhere.
import { createTask } from 'node-cron';
import type { MaintenanceWindowConfig } from '../config/maintenance.js';
import type { ServiceConfig } from '../config/schema.js';
import type { RoundResult, ServiceResult } from '../types.js';
import type { RoundOptions } from './runner.js';

/** One window: from the config (one occurrence of a recurring entry) or created through the API. */
export interface MaintenanceWindow {
  /** `config:N@START` for the Nth config entry's occurrence; a random id for an API window. */
  id: string;
  source: 'config' | 'api';
  /** Service ids, or every service. */
  services: 'all' | string[];
  /** Unix ms: from start (inclusive) to end (exclusive). */
  start: number;
  end: number;
  reason: string;
  /** API windows: when it was created (Unix ms). */
  createdAt?: number;
}

/** Occurrences of one entry folded into one window at most this many times (a window that keeps being extended). */
const MAX_CHAIN = 200;

/**
 * The first start of a cron expression at or after `at` (whole seconds, in `timezone`). node-cron
 * has no public "next match after a date"; its task's matcher does exactly that, so a task is made
 * for the question (never started) and destroyed again.
 */
export function cronMatcher(expression: string, timezone: string): { nextAtOrAfter(at: number): number; nextAfter(at: number): number; close(): void } {
  const task = createTask(expression, () => undefined, { timezone });
  const matcher = (task as unknown as { timeMatcher?: { getNextMatch(d: Date): Date } }).timeMatcher;
  if (!matcher || typeof matcher.getNextMatch !== 'function') {
    void task.destroy();
    throw new Error('node-cron no longer exposes its time matcher: maintenance windows cannot be computed');
  }
  return {
    // getNextMatch answers the first match strictly after the given date's second.
    nextAtOrAfter: (at) => matcher.getNextMatch(new Date(at - 1)).getTime(),
    nextAfter: (at) => matcher.getNextMatch(new Date(at)).getTime(),
    close: () => void task.destroy(),
  };
}

/**
 * The occurrence of a config entry that covers `now`, or else its next one. Occurrences that
 * overlap or touch (a window as long as the time between its starts) are one window: it ends when
 * the last of them does (folded at most MAX_CHAIN times).
 */
export function occurrenceOf(entry: MaintenanceWindowConfig, index: number, timezone: string, now: number): MaintenanceWindow {
  const m = cronMatcher(entry.cron, timezone);
  try {
    // The earliest start whose window has not ended by now; later than now when none is open.
    const start = m.nextAtOrAfter(now - entry.duration + 1);
    let end = start + entry.duration;
    if (start <= now) {
      let cursor = start;
      for (let i = 0; i < MAX_CHAIN; i++) {
        const next = m.nextAfter(cursor);
        if (next > end) break;
        end = next + entry.duration;
        cursor = next;
      }
    }
    return { id: `config:${index}@${start}`, source: 'config', services: entry.services, start, end, reason: entry.reason };
  } finally {
    m.close();
  }
}

/** Each config entry's current or next occurrence. */
export function configWindows(entries: MaintenanceWindowConfig[], timezone: string, now: number): MaintenanceWindow[] {
  return entries.map((e, i) => occurrenceOf(e, i, timezone, now));
}

export function covers(w: MaintenanceWindow, serviceId: string): boolean {
  return w.services === 'all' || w.services.includes(serviceId);
}

export function isOpen(w: MaintenanceWindow, now: number): boolean {
  return w.start <= now && now < w.end;
}

/** Per service id, the open window that covers it (the one ending last), for the services given. */
export function activeWindows(windows: MaintenanceWindow[], serviceIds: string[], now: number): Map<string, MaintenanceWindow> {
  const open = windows.filter((w) => isOpen(w, now));
  const out = new Map<string, MaintenanceWindow>();
  if (open.length === 0) return out;
  // Sets, not lists: thousands of services times many windows is evaluated at each change.
  const sets = open.map((w) => (w.services === 'all' ? null : new Set(w.services)));
  for (const id of serviceIds) {
    for (let i = 0; i < open.length; i++) {
      if (sets[i] !== null && !sets[i]!.has(id)) continue;
      const kept = out.get(id);
      if (!kept || open[i].end > kept.end) out.set(id, open[i]);
    }
  }
  return out;
}

/** The next time any window opens or closes after `now` (Infinity: never). */
export function nextChange(windows: MaintenanceWindow[], now: number): number {
  let next = Infinity;
  for (const w of windows) {
    if (w.start > now) next = Math.min(next, w.start);
    if (w.end > now) next = Math.min(next, w.end);
  }
  return next;
}

/**
 * The result of a service not inspected because a window covers it. Nothing was read or called:
 * no readings, no delta, no judged metering, no auth verdict, and no counter baseline (the last
 * read before the window stays the reference, so usage during the window is still reported by the
 * first round after it). `callOk` and `countQueryOk` are true only in the sense that nothing failed:
 * no call was made and no read attempted; the verdict says why.
 */
export function maintenanceResult(service: ServiceConfig, w: MaintenanceWindow, at: number, describe: (w: MaintenanceWindow) => string): ServiceResult {
  return {
    serviceId: service.id,
    name: service.name ?? service.id,
    appId: service.app_id,
    verdict: 'maintenance',
    reason: describe(w),
    startedAt: at,
    finishedAt: at,
    before: null,
    after: null,
    delta: null,
    expectedDelta: 0,
    meteringMode: service.metering.mode,
    meteringOk: null,
    callOk: true,
    authOk: null,
    countQueryOk: true,
    settleSeconds: null,
    calls: [],
    authChecks: [],
  };
}

/**
 * A round with the services under maintenance taken out before anything is called, and their
 * maintenance results put back in the config's order afterwards. `run` is the runner's own round
 * (the same options, without `maintenance`); `order` is the config's service ids.
 */
export async function withMaintenance(opts: RoundOptions, order: string[], run: (opts: RoundOptions) => Promise<RoundResult>): Promise<RoundResult> {
  const held = new Map((opts.maintenance ?? []).map((r) => [r.serviceId, r]));
  const { maintenance: _, ...rest } = opts;
  const only = rest.only;
  const result = await run({ ...rest, only: (id) => !held.has(id) && (!only || only(id)) });
  const position = new Map(order.map((id, i) => [id, i]));
  const services = [...result.services, ...held.values()].sort((a, b) => (position.get(a.serviceId) ?? Infinity) - (position.get(b.serviceId) ?? Infinity));
  const total = result.services.length + (result.abortedServices?.length ?? 0) + held.size;
  let done = total - held.size;
  for (const r of held.values()) opts.onServiceDone?.(r, ++done, total);
  return { ...result, services };
}
