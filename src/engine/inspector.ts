// One inspection round (DESIGN.md section 3): for each service, read the counter, make the calls and
// the auth checks, wait for metering to settle by polling, read again, judge.
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { Config, ServiceConfig, SettleConfig } from '../config/schema.js';
import { HttpClient } from '../http/client.js';
import type { RequestDefaults } from '../http/build.js';
import { PlatformSession } from '../platform/session.js';
import { callKind, runAuthCheck, runCall } from '../probes/index.js';
import type { ProbeContext } from '../probes/types.js';
import { Redactor } from '../redact.js';
import type { TemplateContext } from '../template.js';
import type { AuthCheckResult, CallResult, CounterReading, RoundResult, RoundTrigger, ServiceResult } from '../types.js';
import { sleep } from '../util/duration.js';
import { KeyedMutex, Semaphore } from './limit.js';
import { judge } from './verdict.js';
import type { RoundRunner } from './runner.js';

export interface InspectorDeps {
  config: Config;
  secrets: string[];
  logger: Logger;
  /** Shared with the logger and the pages; the config's secrets are added to it. */
  redactor?: Redactor;
}

export interface RoundOptions {
  trigger: RoundTrigger;
  /** Shutdown: aborts the round cleanly. */
  signal?: AbortSignal;
  /** Only these service ids (all when absent). */
  only?: (serviceId: string) => boolean;
  onServiceDone?: (result: ServiceResult, done: number, total: number) => void;
  /** Services done so far (also called by runners that do not pass each result over). */
  onProgress?: (done: number, total: number) => void;
}

/** How many settle times to remember per service to learn its usual metering lag. */
const LAG_MEMORY = 10;

export class Inspector implements RoundRunner {
  readonly config: Config;
  readonly redactor: Redactor;
  private readonly logger: Logger;
  private readonly http: HttpClient;
  private readonly platforms = new Map<string, PlatformSession>();
  private readonly defaults: RequestDefaults;
  private readonly lags = new Map<string, number[]>();
  private readonly counterKeys = new Map<string, string>();

  constructor(deps: InspectorDeps) {
    this.config = deps.config;
    this.logger = deps.logger;
    this.redactor = deps.redactor ?? new Redactor();
    for (const secret of deps.secrets) this.redactor.add(secret);
    this.http = new HttpClient(deps.config.global.keep_alive);
    this.defaults = { timeoutMs: deps.config.global.call_timeout, maxBodyBytes: deps.config.global.max_body_bytes };
    for (const [name, p] of Object.entries(deps.config.platforms)) {
      this.platforms.set(name, new PlatformSession(name, p, { http: this.http, redactor: this.redactor, defaults: this.defaults, logger: deps.logger, vars: deps.config.vars }));
    }
  }

  /** Carry learnt metering lags over a config reload. */
  inheritLags(previous: Inspector): void {
    for (const [k, v] of previous.lags) this.lags.set(k, v);
  }

  platformOf(service: ServiceConfig): PlatformSession {
    return this.platforms.get(service.platform ?? Object.keys(this.config.platforms)[0])!;
  }

  private contextOf(service: ServiceConfig): TemplateContext {
    return {
      service_id: service.id,
      app_id: service.app_id,
      business_id: service.business_id,
      name: service.name ?? service.id,
      params: service.params,
      vars: this.config.vars,
    };
  }

  async runRound(opts: RoundOptions): Promise<RoundResult> {
    const startedAt = Date.now();
    const { global } = this.config;
    // One controller for the round: its deadline, or the caller's signal (shutdown), aborts it. The
    // listener on the caller's long-lived signal is removed when the round ends.
    const round = new AbortController();
    const timer = setTimeout(() => round.abort(new Error(`round deadline exceeded (${global.round_timeout}ms)`)), global.round_timeout);
    const onAbort = () => round.abort(opts.signal!.reason);
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    const signal = round.signal;
    // Every request in flight listens to the round's signal: thousands at once is expected, not a leak.
    setMaxListeners(0, signal);
    const slots = new Semaphore(global.concurrency);
    const counters = new KeyedMutex();
    const services = this.config.services.filter((s) => s.enabled && (!opts.only || opts.only(s.id)));
    let done = 0;
    try {
      const start = async (service: ServiceConfig) => {
        const ctx = this.contextOf(service);
        const result = await counters.run(this.counterKeyOf(service, ctx), () => this.inspectService(service, ctx, signal, slots));
        done++;
        opts.onServiceDone?.(result, done, services.length);
        opts.onProgress?.(done, services.length);
        return result;
      };
      // Starting thousands of services is work too: yield now and then so scrapes are served.
      const pending: Promise<ServiceResult>[] = [];
      for (let i = 0; i < services.length; i++) {
        if (i > 0 && i % 250 === 0) await new Promise((resolve) => setImmediate(resolve));
        pending.push(start(services[i]));
      }
      const results = await Promise.all(pending);
      const finishedAt = Date.now();
      return {
        id: randomUUID(),
        trigger: opts.trigger,
        startedAt,
        finishedAt,
        durationSeconds: (finishedAt - startedAt) / 1000,
        aborted: signal.aborted,
        services: results,
      };
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Services with the same counter key share a counter; the key depends only on the config. */
  private counterKeyOf(service: ServiceConfig, ctx: TemplateContext): string {
    let key = this.counterKeys.get(service.id);
    if (key === undefined) {
      key = this.platformOf(service).counterKey(ctx);
      this.counterKeys.set(service.id, key);
    }
    return key;
  }

  private settleOf(service: ServiceConfig): SettleConfig {
    return { ...this.config.global.settle, ...service.metering.settle };
  }

  private async inspectService(service: ServiceConfig, ctx: TemplateContext, signal: AbortSignal, slots: Semaphore): Promise<ServiceResult> {
    const startedAt = Date.now();
    const platform = this.platformOf(service);
    const read = () => slots.run(() => platform.readCounter(ctx, signal));
    const log = this.logger.child({ service_id: service.id });

    const before: CounterReading = signal.aborted ? { ok: false, reason: 'not read: round aborted', at: Date.now() } : await read();

    const extracted: Record<string, string> = {};
    const probeCtx = (): ProbeContext => ({
      vars: { ...ctx, extracted: { ...extracted } },
      signal,
      http: this.http,
      redactor: this.redactor,
      defaults: this.defaults,
      logger: log,
      session: () => platform.credentials(ctx, signal),
    });
    const calls: CallResult[] = [];
    for (const call of service.calls) {
      if (signal.aborted) {
        calls.push({ name: call.name, kind: callKind(call), ok: false, durationSeconds: 0, reason: `not run: ${String((signal.reason as Error)?.message ?? 'aborted')}`, failures: [], units: 0, extracted: {} });
        continue;
      }
      const result = await slots.run(() => runCall(call, probeCtx()));
      Object.assign(extracted, result.extracted);
      // Extracted values may be tokens: show their names, not their values.
      result.extracted = Object.fromEntries(Object.keys(result.extracted).map((k) => [k, '…']));
      calls.push(result);
    }
    const authChecks: AuthCheckResult[] = [];
    for (const check of service.auth_checks) {
      if (signal.aborted) {
        authChecks.push({ name: check.name, outcome: 'error', durationSeconds: 0, reason: 'not run: round aborted' });
        continue;
      }
      authChecks.push(await slots.run(() => runAuthCheck(check, probeCtx())));
    }
    const lastCallAt = Date.now();
    const expected = calls.reduce((s, c) => s + c.units, 0);

    let after: CounterReading | null = null;
    let settleSeconds: number | null = null;
    if (before.ok) {
      const settled = await this.settle(service, before, expected, lastCallAt, read, signal);
      after = settled.after;
      settleSeconds = settled.matchedAt === null ? null : Math.max(0, (settled.matchedAt - lastCallAt) / 1000);
    }

    const j = judge({ before, after, calls, authChecks, mode: service.metering.mode });
    if (j.verdict === 'ok' && settleSeconds !== null) this.rememberLag(service.id, settleSeconds);
    const finishedAt = Date.now();
    if (j.verdict !== 'ok') log.warn({ verdict: j.verdict, reason: j.reason }, 'service check failed');
    else log.debug({ verdict: j.verdict }, 'service check ok');
    return {
      serviceId: service.id,
      name: service.name ?? service.id,
      appId: service.app_id,
      verdict: j.verdict,
      reason: this.redactor.redact(j.reason),
      startedAt,
      finishedAt,
      before,
      after,
      delta: j.delta,
      expectedDelta: j.expectedDelta,
      meteringMode: service.metering.mode,
      meteringOk: j.meteringOk,
      callOk: j.callOk,
      authOk: j.authOk,
      countQueryOk: j.countQueryOk,
      settleSeconds: j.meteringOk ? settleSeconds : null,
      calls,
      authChecks,
    };
  }

  private rememberLag(serviceId: string, seconds: number): void {
    const list = this.lags.get(serviceId) ?? [];
    list.push(seconds);
    if (list.length > LAG_MEMORY) list.shift();
    this.lags.set(serviceId, list);
  }

  /**
   * Poll the counter until the delta reaches the expectation and stays there for `confirm_reads`
   * more reads, or until it can no longer come right (over in exact mode, backwards, a new day),
   * or until the settle timeout. When nothing should be charged, wait a quiet period first: an
   * unexpected charge (a failed call billed) arrives as late as the metering lag.
   */
  private async settle(
    service: ServiceConfig,
    before: Extract<CounterReading, { ok: true }>,
    expected: number,
    lastCallAt: number,
    read: () => Promise<CounterReading>,
    signal: AbortSignal,
  ): Promise<{ after: CounterReading; matchedAt: number | null }> {
    const settle = this.settleOf(service);
    const exact = service.metering.mode === 'exact';
    const giveUpAt = lastCallAt + settle.timeout;
    let quietUntil = lastCallAt;
    if (exact && expected === 0) {
      const learnt = this.lags.get(service.id);
      const quiet = settle.quiet_period ?? (learnt ? Math.max(...learnt) * 1500 + settle.poll_interval : settle.timeout);
      quietUntil = lastCallAt + Math.min(quiet, settle.timeout);
    }
    let after: CounterReading | null = null;
    let matchedAt: number | null = null;
    let confirmations = 0;
    // Bounded: at most timeout / poll_interval reads (plus one), and the round deadline aborts the sleeps.
    const maxReads = Math.ceil(settle.timeout / settle.poll_interval) + 1;
    for (let i = 0; i < maxReads; i++) {
      await sleep(settle.poll_interval, signal);
      if (signal.aborted) break;
      const r = await read();
      after = r;
      const now = Date.now();
      if (r.ok) {
        const delta = r.value - before.value;
        if (r.day !== before.day || delta < 0) break;
        if (exact && delta > expected) break;
        const matches = exact ? delta === expected : delta >= expected;
        if (matches) {
          matchedAt ??= r.at;
          if (now >= quietUntil) {
            if (confirmations >= settle.confirm_reads) break;
            confirmations++;
          }
        } else {
          matchedAt = null;
          confirmations = 0;
        }
      }
      if (now >= giveUpAt) break;
    }
    if (signal.aborted && matchedAt === null) {
      const why = (signal.reason as Error)?.message ?? 'aborted';
      return { after: { ok: false, reason: `not settled: ${why}`, at: Date.now() }, matchedAt: null };
    }
    return { after: after ?? { ok: false, reason: 'not read', at: Date.now() }, matchedAt };
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}
