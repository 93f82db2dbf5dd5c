// `patrol slo-rules`: the Prometheus rules of the objectives in a config (docs/slo.md). Recording
// rules for the two SLIs (error ratios) over the burn-rate windows and over each objective's
// window, and multiwindow, multi-burn-rate alerts (the Google SRE workbook's four tiers), one set
// per group of services that share an objective.
//
// Rounds are sparse samples: the counters move once per round, so a rate over a window holding one
// round or none says nothing. Every window is stretched to at least WINDOW_ROUNDS round intervals
// of the schedule; what that changes is in docs/slo.md ("Windows and the schedule").
import { stringify } from 'yaml';
import type { Config } from '../config/schema.js';
import { budgetRatio, durationText, MIN_ROUNDS_PER_WINDOW, roundIntervalMs, roundsSpanMs, serviceSlo, SLIS, type Sli } from '../config/slo.js';

/** A burn-rate window holds at least this many rounds. */
export const WINDOW_ROUNDS = 4;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The workbook's tiers for a 30-day objective: 2 % of the budget in an hour, 5 % in six hours (page); 10 % in three days, and all of it at 1x (ticket). */
export const TIERS = [
  { severity: 'page', factor: 14.4, long: HOUR, short: 5 * MINUTE },
  { severity: 'page', factor: 6, long: 6 * HOUR, short: 30 * MINUTE },
  { severity: 'ticket', factor: 3, long: DAY, short: 2 * HOUR },
  { severity: 'ticket', factor: 1, long: 3 * DAY, short: 6 * HOUR },
] as const;

export type Severity = (typeof TIERS)[number]['severity'];

/** The shipped alerts' mute for a service inside a maintenance window (alerts/patrol.rules.yml). */
const MAINTENANCE_MUTE = 'last_over_time(patrol_service_maintenance[10m]) == 1';

/** What each SLI is made of and how its rules and alert are named. */
export const SLI_SPEC: Record<Sli, { errors: string; total: string; record: string; alert: string; what: string }> = {
  availability: {
    errors: 'patrol_call_failures_total',
    total: 'patrol_calls_total',
    record: 'patrol_call_errors',
    alert: 'PatrolAvailabilityBudgetBurn',
    what: 'calls that did not meet their expectations',
  },
  metering: {
    errors: 'patrol_metering_mismatches_total',
    total: 'patrol_metering_checks_total',
    record: 'patrol_metering_errors',
    alert: 'PatrolMeteringBudgetBurn',
    what: 'metering checks whose delta did not match',
  },
};

/** The recording rule of an SLI's error ratio over a window (the dashboard reads these names). */
export function ratioRecord(sli: Sli, windowMs: number): string {
  return `service_id:${SLI_SPEC[sli].record}:ratio_rate${durationText(windowMs)}`;
}

/** The recording rules of the budget left and the burn rate over the shortest page window. */
export function budgetRecord(sli: Sli): string {
  return `service_id:${SLI_SPEC[sli].record}:budget_remaining_ratio`;
}
export function burnRecord(sli: Sli): string {
  return `service_id:${SLI_SPEC[sli].record}:burn_rate`;
}

const RUNBOOK = 'https://github.com/patrol-exporter/patrol_exporter/blob/main/docs/slo.md';

/** A window stretched to hold WINDOW_ROUNDS rounds, in whole minutes, never past the objective's window. */
export function stretch(windowMs: number, intervalMs: number, sloWindowMs: number): number {
  const wanted = Math.max(windowMs, WINDOW_ROUNDS * intervalMs);
  return Math.min(Math.ceil(wanted / MINUTE) * MINUTE, sloWindowMs);
}

/** The config cannot have rules (a default window too short for the schedule). */
export class SloRulesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SloRulesError';
  }
}

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleFile {
  groups: { name: string; interval?: string; rules: Rule[] }[];
}

/** How often the error ratios over a day or more are evaluated. */
export const LONG_WINDOW_EVALUATION = '1m';

/** One group of services that share an SLI's objective and window. */
interface ObjectiveGroup {
  sli: Sli;
  percent: number;
  windowMs: number;
  services: string[];
}

/** A service id as a regular expression matching itself only (ids are letters, digits, _ . : -). */
function idPattern(id: string): string {
  return id.replace(/[.]/g, '\\\\.');
}

function selector(services: string[]): string {
  return `{service_id=~"${services.map(idPattern).join('|')}"}`;
}

/** A threshold as PromQL prints it, without float noise (14.4 * 0.001 is 0.014400000000000001). */
function num(n: number): string {
  return String(Number(n.toPrecision(12)));
}

export interface SloRulesInfo {
  /** The longest gap between rounds of the schedule. */
  intervalMs: number;
  /** Each tier's windows after stretching (shared by every group with a window at least as long). */
  tiers: { severity: Severity; factor: number; long: number; short: number }[];
}

/**
 * The rule file for a config, and the windows it chose. Services that are disabled still get
 * rules: a service switched off for a week should not lose its objective's history.
 */
export function sloRules(config: Config): { file: RuleFile; info: SloRulesInfo } {
  const intervalMs = roundIntervalMs(config.global.schedule, config.global.timezone);
  // The schema has validated the schedule, so this is a programming error if it happens.
  if (intervalMs === null) throw new Error(`cannot work out the round interval of global.schedule "${config.global.schedule}"`);

  // A window the file gives is checked when it is loaded; the default one is checked here, where it is used.
  const span = roundsSpanMs(config.global.schedule, config.global.timezone, MIN_ROUNDS_PER_WINDOW) ?? 0;
  const groups = new Map<string, ObjectiveGroup>();
  for (const s of config.services) {
    const slo = serviceSlo(config.global.slo, s.slo);
    for (const sli of SLIS) {
      const key = `${sli}/${slo[sli].percent}/${slo[sli].windowMs}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { sli, percent: slo[sli].percent, windowMs: slo[sli].windowMs, services: [] }));
      if (slo[sli].windowMs < span) {
        throw new SloRulesError(`services[${config.services.indexOf(s)}] (${s.id}): its ${sli} window of ${durationText(slo[sli].windowMs)} can hold fewer than ${MIN_ROUNDS_PER_WINDOW} rounds of global.schedule "${config.global.schedule}": give global.slo.${sli}.window (or the service's) of at least ${durationText(Math.ceil(span / 60_000) * 60_000)}`);
      }
      g.services.push(s.id);
    }
  }

  // The error ratios, per service, over every window an alert or a budget reads.
  const windows: Record<Sli, Set<number>> = { availability: new Set(), metering: new Set() };
  const tiersOf = (sloWindowMs: number) => TIERS.map((t) => ({ ...t, long: stretch(t.long, intervalMs, sloWindowMs), short: stretch(t.short, intervalMs, sloWindowMs) }));
  for (const g of groups.values()) {
    windows[g.sli].add(g.windowMs);
    for (const t of tiersOf(g.windowMs)) windows[g.sli].add(t.long).add(t.short);
  }
  // Windows of a day and more read weeks of samples: they are evaluated once a minute rather than
  // at every evaluation interval (a value a minute old is nothing next to a window of a day).
  const recording: Rule[] = [];
  const longRecording: Rule[] = [];
  for (const sli of SLIS) {
    const { errors, total } = SLI_SPEC[sli];
    for (const w of [...windows[sli]].sort((a, b) => a - b)) {
      const range = durationText(w);
      (w >= DAY ? longRecording : recording).push({
        record: ratioRecord(sli, w),
        expr: `sum by (job, instance, service_id) (rate(${errors}[${range}]))\n/\nsum by (job, instance, service_id) (rate(${total}[${range}]))`,
      });
    }
  }

  const out: RuleFile = { groups: [{ name: 'patrol-slo-sli', rules: recording }] };
  // Objective windows shorter than a day clamp every tier below a day: then there is no long group.
  if (longRecording.length > 0) out.groups.push({ name: 'patrol-slo-sli-long', interval: LONG_WINDOW_EVALUATION, rules: longRecording });
  for (const g of [...groups.values()].sort((a, b) => a.sli.localeCompare(b.sli) || a.percent - b.percent || a.windowMs - b.windowMs)) {
    const budget = budgetRatio(g);
    const sel = selector(g.services);
    const tiers = tiersOf(g.windowMs);
    const spec = SLI_SPEC[g.sli];
    const rules: Rule[] = [
      {
        record: budgetRecord(g.sli),
        expr: `1 - ${ratioRecord(g.sli, g.windowMs)}${sel} / ${num(budget)}`,
        labels: { slo: g.sli, objective: String(g.percent), slo_window: durationText(g.windowMs) },
      },
      {
        record: burnRecord(g.sli),
        expr: `${ratioRecord(g.sli, tiers[0].long)}${sel} / ${num(budget)}`,
        labels: { slo: g.sli, objective: String(g.percent), burn_window: durationText(tiers[0].long) },
      },
    ];
    for (const severity of ['page', 'ticket'] as const) {
      const mine = tiers.filter((t) => t.severity === severity);
      // An objective so low that a burn rate would need more than every event to fail: the tier
      // then fires when every event in both windows failed.
      const cond = (t: (typeof mine)[number]) => {
        const threshold = t.factor * budget;
        const cmp = threshold >= 1 ? '>= 1' : `> ${num(threshold)}`;
        return `(\n  ${ratioRecord(g.sli, t.long)}${sel} ${cmp}\nand\n  ${ratioRecord(g.sli, t.short)}${sel} ${cmp}\n)`;
      };
      const windowsText = mine.map((t) => `${t.factor}x over ${durationText(t.long)} and ${durationText(t.short)}`).join(', or ');
      rules.push({
        alert: spec.alert,
        // Muted while a maintenance window holds the service, as every shipped per-service alert is
        // (docs/alerts.md): the window makes no call, but the long windows still hold the failures
        // from before it. A burn still there after the window fires again.
        expr: `(\n${mine.map(cond).join('\nor\n')}\n)\nunless on(job, instance, service_id) ${MAINTENANCE_MUTE}`,
        labels: { severity, slo: g.sli, objective: String(g.percent), slo_window: durationText(g.windowMs) },
        annotations: {
          summary: `Patrol: service {{ $labels.service_id }} is spending its ${g.sli} error budget ${severity === 'page' ? 'fast' : 'steadily'}`,
          description:
            `Service {{ $labels.service_id }} (exporter {{ $labels.instance }}): ${spec.what} are burning the error budget of its ` +
            `${g.percent} % ${g.sli} objective over ${durationText(g.windowMs)} (budget ${num(budget * 100)} %) at ${windowsText}. ` +
            `Error ratio over ${durationText(mine[0].long)}: {{ $value | humanizePercentage }}.`,
          runbook_url: `${RUNBOOK}#${spec.alert.toLowerCase()}`,
        },
      });
    }
    out.groups.push({ name: `patrol-slo-${g.sli}-${String(g.percent).replace('.', '_')}-${durationText(g.windowMs)}`, rules });
  }
  return { file: out, info: { intervalMs, tiers: tiersOf(Math.max(...[...groups.values()].map((g) => g.windowMs))) } };
}

/** The rule file as YAML, with a header saying where it came from. */
export function sloRulesYaml(config: Config, source: string): string {
  const { file, info } = sloRules(config);
  const header = [
    `# Generated by \`patrol slo-rules\` from ${source}; do not edit (docs/slo.md).`,
    `# Rounds can be ${durationText(info.intervalMs)} apart (global.schedule "${config.global.schedule}"): every window holds at least ${WINDOW_ROUNDS} rounds.`,
    `# Windows (long/short): ${info.tiers.map((t) => `${t.severity} ${t.factor}x ${durationText(t.long)}/${durationText(t.short)}`).join('; ')}.`,
  ];
  return `${header.join('\n')}\n${stringify(file, { lineWidth: 0 })}`;
}
