// The metrics contract (DESIGN.md section 5), on a registry passed in. Gauges describe the last
// completed round: they are cleared and set again when a round ends, so a value that was unknown in
// that round (a failed counter read) has no sample rather than a stale or made-up one.
import { Counter, Gauge, Registry } from 'prom-client';
import type { ServiceConfig } from './config/schema.js';
import type { RoundResult } from './types.js';

const ROUNDS_NOTE = 'Rounds run on the exporter\'s own schedule, not at scrape time: each call is a real, billed request and metering takes tens of seconds to settle.';

export class PatrolMetrics {
  readonly serviceInfo: Gauge<'service_id' | 'name' | 'app_id'>;
  readonly serviceSuccess: Gauge<'service_id'>;
  readonly callSuccess: Gauge<'service_id'>;
  readonly callDuration: Gauge<'service_id' | 'call'>;
  readonly authCheckSuccess: Gauge<'service_id' | 'check'>;
  readonly usageCount: Gauge<'service_id' | 'phase'>;
  readonly countQuerySuccess: Gauge<'service_id'>;
  readonly meteringDelta: Gauge<'service_id'>;
  readonly meteringExpectedDelta: Gauge<'service_id'>;
  readonly meteringSuccess: Gauge<'service_id'>;
  readonly meteringSettle: Gauge<'service_id'>;
  readonly serviceLastRun: Gauge<'service_id'>;
  readonly calls: Counter<'service_id'>;
  readonly callFailures: Counter<'service_id'>;
  readonly meteringChecks: Counter<'service_id'>;
  readonly meteringMismatches: Counter<'service_id'>;
  readonly rounds: Counter;
  readonly roundFailures: Counter;
  readonly roundsSkipped: Counter;
  readonly roundDuration: Gauge;
  readonly lastRound: Gauge;
  readonly nextRound: Gauge;
  readonly digestLastSuccess: Gauge;
  readonly digestFailures: Counter;
  readonly configReloadOk: Gauge;
  readonly configReloadTime: Gauge;
  readonly buildInfo: Gauge<'version' | 'nodejs'>;

  constructor(readonly registry: Registry, version: string) {
    const registers = [registry];
    const g = <L extends string>(name: string, help: string, labelNames: L[] = []) => new Gauge<L>({ name, help, labelNames, registers });
    const c = <L extends string>(name: string, help: string, labelNames: L[] = []) => new Counter<L>({ name, help, labelNames, registers });
    const per = ' Last completed round. ' + ROUNDS_NOTE;

    this.serviceInfo = g('patrol_service_info', 'What each inspected service is (always 1).', ['service_id', 'name', 'app_id']);
    this.serviceSuccess = g('patrol_service_success', 'Whether the service\'s verdict was ok (1) or not (0).' + per, ['service_id']);
    this.callSuccess = g('patrol_call_success', 'Whether every call met its expectations.' + per, ['service_id']);
    this.callDuration = g('patrol_call_duration_seconds', 'Duration of each call.' + per, ['service_id', 'call']);
    this.authCheckSuccess = g('patrol_auth_check_success', 'Whether the bad credential of each auth check was rejected (0: it was accepted).' + per, ['service_id', 'check']);
    this.usageCount = g('patrol_usage_count', 'The platform\'s usage counter for the service, read before the calls and after metering settled.' + per, ['service_id', 'phase']);
    this.countQuerySuccess = g('patrol_count_query_success', 'Whether both counter reads worked.' + per, ['service_id']);
    this.meteringDelta = g('patrol_metering_delta', 'Counter after minus counter before.' + per, ['service_id']);
    this.meteringExpectedDelta = g('patrol_metering_expected_delta', 'Units the successful calls should have added to the counter.' + per, ['service_id']);
    this.meteringSuccess = g('patrol_metering_success', 'Whether the counter rose by exactly (or, in at_least mode, at least) the expected units.' + per, ['service_id']);
    this.meteringSettle = g('patrol_metering_settle_seconds', 'Time from the last call until the counter showed the expected delta.' + per, ['service_id']);
    this.serviceLastRun = g('patrol_service_last_run_timestamp_seconds', 'When the service\'s last round finished (Unix time).', ['service_id']);
    this.calls = c('patrol_calls_total', 'Calls made to the service.', ['service_id']);
    this.callFailures = c('patrol_call_failures_total', 'Calls that did not meet their expectations.', ['service_id']);
    this.meteringChecks = c('patrol_metering_checks_total', 'Metering checks judged (both counter reads worked, same day).', ['service_id']);
    this.meteringMismatches = c('patrol_metering_mismatches_total', 'Metering checks whose delta did not match the expectation.', ['service_id']);
    this.rounds = c('patrol_rounds_total', 'Inspection rounds completed. ' + ROUNDS_NOTE);
    this.roundFailures = c('patrol_round_failures_total', 'Rounds in which any service\'s verdict was not ok.');
    this.roundsSkipped = c('patrol_rounds_skipped_total', 'Rounds not started because the previous one was still running.');
    this.roundDuration = g('patrol_round_duration_seconds', 'Wall time of the last completed round.');
    this.lastRound = g('patrol_last_round_timestamp_seconds', 'When the last round finished (Unix time).');
    this.nextRound = g('patrol_next_round_timestamp_seconds', 'When the next scheduled round is due (Unix time).');
    this.digestLastSuccess = g('patrol_digest_last_success_timestamp_seconds', 'When the last daily digest was delivered (Unix time).');
    this.digestFailures = c('patrol_digest_failures_total', 'Digest deliveries that failed.');
    this.configReloadOk = g('patrol_config_last_reload_successful', 'Whether the last configuration load or reload succeeded.');
    this.configReloadTime = g('patrol_config_last_reload_success_timestamp_seconds', 'When the configuration was last loaded successfully (Unix time).');
    this.buildInfo = g('patrol_build_info', 'Build information (always 1).', ['version', 'nodejs']);
    this.buildInfo.set({ version, nodejs: process.version }, 1);
  }

  // Every change goes through a method below, so the exposition can be rendered once per change
  // and served from memory to any number of scrapers.
  private cache: { text: string; open: string } | null = null;

  async exposition(openMetrics: boolean): Promise<string> {
    if (!this.cache) {
      const text = await this.registry.metrics();
      this.cache = { text, open: toOpenMetrics(text) };
    }
    return openMetrics ? this.cache.open : this.cache.text;
  }

  private changed(): void {
    this.cache = null;
  }

  /** The info metric follows the config: set on every successful load or reload. Counters start at 0 so rate() works from the first round. */
  setServices(services: ServiceConfig[]): void {
    this.serviceInfo.reset();
    for (const s of services) {
      if (!s.enabled) continue;
      const id = { service_id: s.id };
      this.serviceInfo.set({ ...id, name: s.name ?? s.id, app_id: s.app_id }, 1);
      for (const c of [this.calls, this.callFailures, this.meteringChecks, this.meteringMismatches]) c.inc(id, 0);
    }
    this.changed();
  }

  configLoaded(ok: boolean): void {
    this.configReloadOk.set(ok ? 1 : 0);
    if (ok) this.configReloadTime.set(Date.now() / 1000);
    this.changed();
  }

  roundSkipped(): void {
    this.roundsSkipped.inc();
    this.changed();
  }

  setNextRound(at: Date | null): void {
    if (at) this.nextRound.set(at.getTime() / 1000);
    else this.nextRound.reset();
    this.changed();
  }

  digestDelivered(at = Date.now()): void {
    this.digestLastSuccess.set(at / 1000);
    this.changed();
  }

  digestFailed(): void {
    this.digestFailures.inc();
    this.changed();
  }

  recordRound(round: RoundResult): void {
    const perService = [
      this.serviceSuccess, this.callSuccess, this.callDuration, this.authCheckSuccess, this.usageCount,
      this.countQuerySuccess, this.meteringDelta, this.meteringExpectedDelta, this.meteringSuccess,
      this.meteringSettle,
    ];
    for (const m of perService) m.reset();
    for (const s of round.services) {
      const id = { service_id: s.serviceId };
      this.serviceSuccess.set(id, s.verdict === 'ok' ? 1 : 0);
      this.callSuccess.set(id, s.callOk ? 1 : 0);
      for (const call of s.calls) this.callDuration.set({ ...id, call: call.name }, call.durationSeconds);
      for (const a of s.authChecks) if (a.outcome !== 'error') this.authCheckSuccess.set({ ...id, check: a.name }, a.outcome === 'rejected' ? 1 : 0);
      if (s.before?.ok) this.usageCount.set({ ...id, phase: 'before' }, s.before.value);
      if (s.after?.ok) this.usageCount.set({ ...id, phase: 'after' }, s.after.value);
      this.countQuerySuccess.set(id, s.countQueryOk ? 1 : 0);
      if (s.delta !== null) this.meteringDelta.set(id, s.delta);
      this.meteringExpectedDelta.set(id, s.expectedDelta);
      if (s.meteringOk !== null) this.meteringSuccess.set(id, s.meteringOk ? 1 : 0);
      if (s.settleSeconds !== null) this.meteringSettle.set(id, s.settleSeconds);
      this.serviceLastRun.set(id, s.finishedAt / 1000);
      this.calls.inc(id, s.calls.length);
      this.callFailures.inc(id, s.calls.filter((c) => !c.ok).length);
      if (s.meteringOk !== null) {
        this.meteringChecks.inc(id);
        if (!s.meteringOk) this.meteringMismatches.inc(id);
      }
    }
    this.rounds.inc();
    if (round.services.some((s) => s.verdict !== 'ok')) this.roundFailures.inc();
    this.roundDuration.set(round.durationSeconds);
    this.lastRound.set(round.finishedAt / 1000);
    this.changed();
  }
}

/**
 * The same families in the OpenMetrics text format. Not prom-client's own OpenMetrics mode: it
 * renames counter objects in place, which would break the classic format served afterwards.
 */
export function toOpenMetrics(text: string): string {
  const counters = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) counter$/gm)) counters.add(m[1]);
  const lines = text.split('\n').filter((l) => l !== '');
  const out = lines.map((line) => {
    const meta = /^# (HELP|TYPE) (\S+)(.*)$/.exec(line);
    if (meta && counters.has(meta[2]) && meta[2].endsWith('_total')) return `# ${meta[1]} ${meta[2].slice(0, -6)}${meta[3]}`;
    return line;
  });
  return `${out.join('\n')}\n# EOF\n`;
}
