// Service level objectives (docs/slo.md): per service, with a default in `global.slo`, an
// availability objective (calls that met their expectations) and a metering-accuracy objective
// (judged metering checks that matched), each over a window. `patrol slo-rules` turns them into
// Prometheus rules; the dashboard and the digest show the error budget left.
import { z } from 'zod';
import { createTask } from 'node-cron';
import { duration } from './parts.js';

/** The window of an objective that does not give one. */
export const DEFAULT_WINDOW_MS = 28 * 86_400_000;

/** Rounds an SLO window must hold at least: fewer is a handful of samples, not an objective. */
export const MIN_ROUNDS_PER_WINDOW = 10;

const objectivePercent = z
  .number()
  .min(50, 'an objective is a percentage from 50 up to (not including) 100')
  .lt(100, 'an objective below 100 (a 100 % objective leaves no error budget: every failure would page)')
  .meta({ description: 'The percentage of good events aimed for, below 100 (99.9 leaves 0.1 % of the events as the error budget).', examples: [99.9] });

// The shared duration field (config/parts.ts): its parser, its messages, its editor hints. Not a
// timer, so longer than a timer may wait.
const sloWindow = duration({ min: '1h', max: '90d', notATimer: true }).meta({
  description: `The period the objective is measured over (a rolling window ending now); default 28d. It must hold at least ${MIN_ROUNDS_PER_WINDOW} rounds of global.schedule.`,
  examples: ['28d'],
});

const objectiveFields = (defaultPercent: number) =>
  z
    .strictObject({
      objective: objectivePercent.default(defaultPercent),
      // No default written in: only a window the file gives is checked against the schedule (a
      // config that never mentions objectives must not fail for them); serviceSlo applies 28d.
      window: sloWindow.optional(),
    })
    .prefault({});

export const sloDefaultsSchema = z
  .strictObject({
    availability: objectiveFields(99.5).meta({ description: 'Calls that met their expectations, out of all calls (patrol_call_failures_total / patrol_calls_total).' }),
    metering: objectiveFields(99.9).meta({ description: 'Judged metering checks whose delta matched, out of all judged checks (patrol_metering_mismatches_total / patrol_metering_checks_total).' }),
  })
  .meta({ id: 'SloDefaults', description: 'The objectives every service has unless it sets its own (services[].slo).' });
export type SloDefaults = z.infer<typeof sloDefaultsSchema>;

const objectiveOverride = z
  .strictObject({
    objective: objectivePercent.optional(),
    window: sloWindow.optional(),
  })
  .meta({ description: 'Each key given overrides the one in global.slo; the others come from there.' });

export const sloOverrideSchema = z
  .strictObject({
    availability: objectiveOverride.optional(),
    metering: objectiveOverride.optional(),
  })
  .meta({ id: 'SloOverride', description: "This service's own objectives: each key given overrides global.slo.", examples: [{ availability: { objective: 99.9 } }] });
export type SloOverride = z.infer<typeof sloOverrideSchema>;

/** The two SLIs, each named as its alert and its labels call it. */
export const SLIS = ['availability', 'metering'] as const;
export type Sli = (typeof SLIS)[number];

/** One objective as it applies: a ratio (0.999) and a window in ms. */
export interface Objective {
  /** The percentage as written (99.9). */
  percent: number;
  /** Good events aimed for, as a ratio: 0.999. */
  ratio: number;
  windowMs: number;
}

export type ServiceSlo = Record<Sli, Objective>;

/** What a service's objectives are, given the defaults and its own override. */
export function serviceSlo(defaults: SloDefaults, override: SloOverride | undefined): ServiceSlo {
  const one = (sli: Sli): Objective => {
    const percent = override?.[sli]?.objective ?? defaults[sli].objective;
    // Rounded to the precision a percentage with a few decimals has: 100 - 99.9 is 0.09999999999999432.
    return { percent, ratio: Number((percent / 100).toFixed(12)), windowMs: override?.[sli]?.window ?? defaults[sli].window ?? DEFAULT_WINDOW_MS };
  };
  return { availability: one('availability'), metering: one('metering') };
}

/** The budget of an objective as a ratio of events (0.001 for 99.9 %), without float noise. */
export function budgetRatio(o: Pick<Objective, 'percent'>): number {
  return Number(((100 - o.percent) / 100).toFixed(12));
}

/**
 * The times between the next rounds of a cron schedule (100 of them: a day of minutes, or years
 * of a monthly schedule; enough to see every gap's shape). Null for an expression node-cron
 * refuses (the schema reports that one).
 */
function scheduleGaps(schedule: string, timezone: string): number[] | null {
  let task;
  try {
    task = createTask(schedule, () => undefined, { timezone });
  } catch {
    return null;
  }
  try {
    const runs = task.getNextRuns(100).map((d) => d.getTime());
    const gaps = runs.slice(1).map((t, i) => t - runs[i]);
    return gaps.length > 0 ? gaps : null;
  } catch {
    return null;
  } finally {
    void task.destroy();
  }
}

/** The longest time between two rounds (weekdays at 9:00: three days, over the weekend). */
export function roundIntervalMs(schedule: string, timezone: string): number | null {
  const gaps = scheduleGaps(schedule, timezone);
  return gaps ? Math.max(...gaps) : null;
}

/** The longest time `n` rounds in a row can take (every window this long holds at least n rounds). */
export function roundsSpanMs(schedule: string, timezone: string, n: number): number | null {
  const gaps = scheduleGaps(schedule, timezone);
  if (!gaps) return null;
  let longest = 0;
  for (let i = 0; i + n <= gaps.length; i++) longest = Math.max(longest, gaps.slice(i, i + n).reduce((a, b) => a + b, 0));
  // Fewer gaps than n (cannot happen with 100 runs and n = 10): the sum of all, scaled.
  return longest > 0 ? longest : (gaps.reduce((a, b) => a + b, 0) * n) / gaps.length;
}

/** A duration in ms as the largest whole unit it is a multiple of ("28d", "90m", "45s"). */
export function durationText(ms: number): string {
  const units: [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  for (const [u, size] of units) if (ms % size === 0) return `${ms / size}${u}`;
  return `${ms}ms`;
}

interface SloConfigView {
  global: { schedule: string; timezone: string; slo: SloDefaults };
  services: { slo?: SloOverride }[];
}

/**
 * Checks that need the whole file: every window holds at least MIN_ROUNDS_PER_WINDOW rounds of
 * the schedule wherever it ends (a window shorter than that is a few samples, and one failed round
 * would spend the whole budget). Each problem at the path of the window that is too short.
 */
export function checkSlo(config: SloConfigView, add: (steps: (string | number)[], message: string) => void): void {
  const span = roundsSpanMs(config.global.schedule, config.global.timezone, MIN_ROUNDS_PER_WINDOW);
  if (span === null) return;
  // Shown in whole minutes (a schedule with seconds can give a span like 5m0.5s only in theory).
  const least = durationText(Math.ceil(span / 60_000) * 60_000);
  const check = (steps: (string | number)[], windowMs: number | undefined) => {
    if (windowMs === undefined || windowMs >= span) return;
    add(steps, `a window of ${durationText(windowMs)} can hold fewer than ${MIN_ROUNDS_PER_WINDOW} rounds of global.schedule: make it at least ${least}`);
  };
  for (const sli of SLIS) check(['global', 'slo', sli, 'window'], config.global.slo[sli].window);
  config.services.forEach((s, i) => {
    for (const sli of SLIS) check(['services', i, 'slo', sli, 'window'], s.slo?.[sli]?.window);
  });
}
