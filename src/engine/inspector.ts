// One inspection round (README.md "Rounds, not scrape-time probes"; docs/architecture.md): for
// each service, read the counter, make the calls and the auth checks, wait for metering to settle
// by polling, read again, judge.
import { createHash, randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { Config, ServiceConfig, SettleConfig } from '../config/schema.js';
import { HttpClient } from '../http/client.js';
import type { RequestDefaults } from '../http/build.js';
import { PlatformSession, type RequestTrace } from '../platform/session.js';
import { callKind, runAuthCheck, runCall } from '../probes/index.js';
import type { ProbeContext } from '../probes/types.js';
import { Redactor } from '../redact.js';
import type { TemplateContext } from '../template.js';
import { VERDICT_OUTCOME, type AbortedService, type AuthCheckResult, type CallResult, type CounterBaseline, type CounterReading, type RoundResult, type ServiceResult, type UnexplainedUsage } from '../types.js';
import type { AuthCheckConfig, CallConfig } from '../config/schema.js';
import type { TraceSpan, Tracing } from '../trace/span.js';
import { createTracing } from '../trace/tracing.js';
import { dateTime } from '../util/time.js';
import { sleep } from '../util/duration.js';
import { KeyedMutex, Semaphore } from './limit.js';
import { judge } from './verdict.js';
import { withMaintenance } from './maintenance.js';
import type { RoundOptions, RoundRunner } from './runner.js';

export interface InspectorDeps {
  config: Config;
  secrets: string[];
  logger: Logger;
  /** Shared with the logger and the pages; the config's secrets are added to it. */
  redactor?: Redactor;
  /**
   * Where the spans of the rounds go (docs/tracing.md). Default: made from global.tracing, owned by
   * this inspector (shut down, flushing, by close()).
   */
  tracing?: Tracing;
}

/** A round's span and what its services told it. */
interface RoundTrace {
  span: TraceSpan;
  services: number;
  failed: number;
}

type Reading = Extract<CounterReading, { ok: true }>;

/** How many settle times to remember per service to learn its usual metering lag. */
const LAG_MEMORY = 10;

type ServiceRun = { key: string; baselines: Map<string, CounterBaseline>; compare: boolean; signal: AbortSignal; slots: Semaphore; shutdown: () => boolean };

/** The answer's status as a span attribute: HTTP (or the WebSocket handshake's), or a script's exit code. */
function statusAttribute(kind: string, status: number | undefined): Record<string, number | undefined> {
  return kind === 'script' ? { 'process.exit.code': status } : { 'http.response.status_code': status };
}

export class Inspector implements RoundRunner {
  readonly config: Config;
  readonly redactor: Redactor;
  private readonly logger: Logger;
  private readonly http: HttpClient;
  private readonly platforms = new Map<string, PlatformSession>();
  private readonly defaults: RequestDefaults;
  private readonly lags = new Map<string, number[]>();
  private readonly counterKeys = new Map<string, string>();
  /** Ready before a round's first span: the SDK's modules are imported only for a config that exports spans. */
  readonly tracing: Promise<Tracing>;
  private readonly ownsTracing: boolean;
  /** Each round's span, by the round's own signal (which every service of it is given). */
  private readonly roundTraces = new WeakMap<AbortSignal, RoundTrace>();

  constructor(deps: InspectorDeps) {
    this.config = deps.config;
    this.logger = deps.logger;
    this.redactor = deps.redactor ?? new Redactor();
    for (const secret of deps.secrets) this.redactor.add(secret);
    this.ownsTracing = deps.tracing === undefined;
    this.tracing = deps.tracing ? Promise.resolve(deps.tracing) : createTracing(deps.config.global.tracing, { redactor: this.redactor, logger: deps.logger });
    // A failed import is the round's failure when it awaits this, not an unhandled rejection now.
    this.tracing.catch(() => {});
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
    // Services in a maintenance window are taken out before anything is called (engine/maintenance.ts).
    if (opts.maintenance?.length) return withMaintenance(opts, this.config.services.map((s) => s.id), (rest) => this.runRound(rest));
    const tracing = await this.tracing;
    const startedAt = Date.now();
    const { global } = this.config;
    // One controller for the round: its deadline, or the caller's signal (shutdown), aborts it. The
    // listener on the caller's long-lived signal is removed when the round ends.
    const round = new AbortController();
    // What cut the round short, first cause wins: the deadline is a failure of what was unfinished;
    // shutdown is not (those services are recorded as aborted).
    let cutBy: 'deadline' | 'shutdown' | null = null;
    const timer = setTimeout(() => {
      cutBy ??= 'deadline';
      round.abort(new Error(`round deadline exceeded (${global.round_timeout}ms)`));
    }, global.round_timeout);
    const onAbort = () => {
      cutBy ??= 'shutdown';
      round.abort(opts.signal!.reason);
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    const signal = round.signal;
    const trace: RoundTrace = { span: tracing.round({ 'patrol.trigger': opts.trigger }), services: 0, failed: 0 };
    this.roundTraces.set(signal, trace);
    // Every request in flight listens to the round's signal: thousands at once is expected, not a leak.
    setMaxListeners(0, signal);
    const slots = new Semaphore(global.concurrency);
    const counters = new KeyedMutex();
    const services = this.config.services.filter((s) => s.enabled && (!opts.only || opts.only(s.id)));
    // Per counter key; services sharing a counter run one after the other (the mutex), and each
    // compares with the read the previous one left.
    const baselines = new Map((opts.baselines ?? []).map((b) => [b.counterKey, b]));
    let done = 0;
    try {
      const start = async (service: ServiceConfig) => {
        const ctx = this.contextOf(service);
        const key = this.counterKeyOf(service, ctx);
        const result = await counters.run(key, async () => {
          const r = await this.inspectService(service, ctx, { key, baselines, compare: opts.compare !== false, signal, slots, shutdown: () => cutBy === 'shutdown' });
          if (r.baseline) baselines.set(key, r.baseline);
          return r;
        });
        done++;
        if ('verdict' in result) opts.onServiceDone?.(result, done, services.length);
        opts.onProgress?.(done, services.length);
        return result;
      };
      // Services start as slots free up, not all at once: each started service holds its context,
      // logger and partial result until it is judged, and 5,000 of them queued for 64 slots made
      // every one live as long as the round (peak RSS, BENCHMARKS.md). A service sleeping between
      // counter reads, or waiting for another service on its counter, holds no slot: the free
      // slots it leaves start more services, so metering lag does not slow the round.
      const pending: Promise<ServiceResult | AbortedService>[] = [];
      let next = 0;
      while (next < services.length) {
        // Once aborted, the rest only record why they did not run: start them all.
        const free = signal.aborted ? services.length - next : slots.free();
        if (free === 0) {
          await slots.whenFree();
          continue;
        }
        for (let k = 0; k < free && next < services.length; k++) {
          const one = start(services[next++]);
          // Promise.all below sees a failure; this keeps it from counting as unhandled meanwhile.
          one.catch(() => undefined);
          pending.push(one);
        }
        // Let those just started reach their first slot (a few microtasks) before counting again;
        // a macrotask also lets other work (scrapes, messages) in between.
        await new Promise((resolve) => setImmediate(resolve));
      }
      const results = await Promise.all(pending);
      const aborted = results.filter((r): r is AbortedService => !('verdict' in r));
      const finishedAt = Date.now();
      return {
        id: randomUUID(),
        trigger: opts.trigger,
        startedAt,
        finishedAt,
        durationSeconds: (finishedAt - startedAt) / 1000,
        aborted: aborted.length > 0,
        services: results.filter((r): r is ServiceResult => 'verdict' in r),
        ...(aborted.length > 0 ? { abortedServices: aborted } : {}),
        ...(cutBy === 'deadline' ? { timedOut: true } : {}),
      };
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      this.endRoundTrace(trace, cutBy);
    }
  }

  /** The round's span ends with the round; its spans are sent now (rounds are minutes apart) rather than batched on. */
  private endRoundTrace(trace: RoundTrace, cutBy: 'deadline' | 'shutdown' | null): void {
    trace.span.set({ 'patrol.services': trace.services, 'patrol.services_failed': trace.failed, 'patrol.aborted': cutBy === 'shutdown', 'patrol.timed_out': cutBy === 'deadline' });
    if (cutBy === 'deadline') trace.span.fail(`round deadline exceeded (${this.config.global.round_timeout}ms)`);
    else if (trace.failed > 0) trace.span.fail(`${trace.failed} service${trace.failed > 1 ? 's' : ''} failed`);
    trace.span.end();
    void this.tracing.then((t) => t.flush());
  }

  /** Services with the same counter key share a counter; the key depends only on the config. */
  private counterKeyOf(service: ServiceConfig, ctx: TemplateContext): string {
    let key = this.counterKeys.get(service.id);
    if (key === undefined) {
      // Hashed: the counter request may carry a secret from the config, and the key is stored in
      // the history and shown by the API; equal requests still give equal keys.
      key = createHash('sha256').update(this.platformOf(service).counterKey(ctx)).digest('hex').slice(0, 24);
      this.counterKeys.set(service.id, key);
    }
    return key;
  }

  private settleOf(service: ServiceConfig): SettleConfig {
    return { ...this.config.global.settle, ...service.metering.settle };
  }

  /** One service inside its span (a child of the round's): the steps below, then the verdict on the span. */
  private async inspectService(service: ServiceConfig, ctx: TemplateContext, run: ServiceRun): Promise<ServiceResult | AbortedService> {
    const round = this.roundTraces.get(run.signal);
    const attributes = { 'patrol.service_id': service.id, 'patrol.app_id': service.app_id || undefined };
    const span = round ? round.span.child('patrol.service', attributes) : (await this.tracing).round(attributes);
    try {
      const result = await this.inspectServiceSteps(service, ctx, run, span);
      if ('verdict' in result) {
        result.traceId = span.traceId;
        span.set({
          'patrol.verdict': result.verdict,
          'patrol.reason': result.reason || undefined,
          'patrol.metering.delta': result.delta,
          'patrol.metering.expected_delta': result.expectedDelta,
          'patrol.metering.settle_seconds': result.settleSeconds,
        });
        if (round) round.services++;
        if (VERDICT_OUTCOME[result.verdict] === 'failed') {
          span.fail(result.reason);
          if (round) round.failed++;
        }
      } else {
        // Stopped by shutdown: not a verdict, and not a failure.
        span.set({ 'patrol.aborted': true, 'patrol.reason': result.reason });
      }
      return result;
    } finally {
      span.end();
    }
  }

  /** A counter read in its own span; the session's requests (a login too) carry it. */
  private async tracedRead(platform: PlatformSession, ctx: TemplateContext, signal: AbortSignal, parent: TraceSpan, phase: 'before' | 'settle'): Promise<CounterReading> {
    const span = parent.child('patrol.counter_read', { 'patrol.service_id': String(ctx.service_id), 'patrol.read': phase }, 'client');
    try {
      const r = await platform.readCounter(ctx, signal, this.requestTrace(span, platform.name));
      if (r.ok) span.set({ 'patrol.counter.value': r.value });
      else {
        span.set({ 'patrol.reason': r.reason });
        span.fail(r.reason);
      }
      return r;
    } finally {
      span.end();
    }
  }

  /** The trace context for the console's requests made inside `span`; a login gets a span of its own. */
  private requestTrace(span: TraceSpan, platform: string): RequestTrace {
    return {
      headers: { traceparent: span.traceparent },
      login: async (run) => {
        const login = span.child('patrol.login', { 'patrol.platform': platform }, 'client');
        try {
          const got = await run({ traceparent: login.traceparent });
          // A login answers its session, or a string: why it failed.
          if (typeof got === 'string') {
            login.set({ 'patrol.reason': got });
            login.fail(got);
          }
          return got;
        } finally {
          login.end();
        }
      },
    };
  }

  /** A call in its own span, which its requests carry (traceparent; TRACEPARENT for a script). */
  private async tracedCall(parent: TraceSpan, serviceId: string, call: CallConfig, probeCtx: (span: TraceSpan) => ProbeContext): Promise<CallResult> {
    const kind = callKind(call);
    const span = parent.child('patrol.call', { 'patrol.service_id': serviceId, 'patrol.call': call.name, 'patrol.call.kind': kind }, 'client');
    try {
      const r = await runCall(call, { ...probeCtx(span), traceparent: span.traceparent });
      span.set({ 'patrol.call.ok': r.ok, 'patrol.call.units': r.units, 'patrol.reason': r.reason || undefined, ...statusAttribute(kind, r.status) });
      if (!r.ok) span.fail(r.reason);
      return r;
    } finally {
      span.end();
    }
  }

  private async tracedAuthCheck(parent: TraceSpan, serviceId: string, check: AuthCheckConfig, probeCtx: (span: TraceSpan) => ProbeContext): Promise<AuthCheckResult> {
    const kind = callKind(check);
    const span = parent.child('patrol.auth_check', { 'patrol.service_id': serviceId, 'patrol.auth_check': check.name, 'patrol.call.kind': kind }, 'client');
    try {
      const r = await runAuthCheck(check, { ...probeCtx(span), traceparent: span.traceparent });
      span.set({ 'patrol.auth_check.outcome': r.outcome, 'patrol.reason': r.reason || undefined, ...statusAttribute(kind, r.status) });
      // Refused is what an auth check wants; accepted is the failure, error is "could not tell".
      if (r.outcome !== 'rejected') span.fail(r.reason);
      return r;
    } finally {
      span.end();
    }
  }

  private async inspectServiceSteps(service: ServiceConfig, ctx: TemplateContext, run: ServiceRun, span: TraceSpan): Promise<ServiceResult | AbortedService> {
    const { signal, slots } = run;
    const startedAt = Date.now();
    const platform = this.platformOf(service);
    // The last successful read, whichever step made it: where the next round's comparison starts.
    let lastOk: Reading | null = null;
    const read = async (parent: TraceSpan, phase: 'before' | 'settle') => {
      const r = await slots.run(() => this.tracedRead(platform, ctx, signal, parent, phase));
      if (r.ok) lastOk = r;
      return r;
    };
    const log = this.logger.child({ service_id: service.id });
    const previous = run.baselines.get(run.key);

    const before: CounterReading = signal.aborted ? { ok: false, reason: 'not read: round aborted', at: Date.now() } : await read(span, 'before');
    const unexplained = before.ok && previous && run.compare ? this.betweenRounds(previous, before, log) : undefined;

    const extracted: Record<string, string> = {};
    const probeCtx = (callSpan: TraceSpan): ProbeContext => ({
      vars: { ...ctx, extracted: { ...extracted } },
      signal,
      http: this.http,
      redactor: this.redactor,
      defaults: this.defaults,
      logger: log,
      session: () => platform.credentials(ctx, signal, this.requestTrace(callSpan, platform.name)),
    });
    const calls: CallResult[] = [];
    for (const call of service.calls) {
      if (signal.aborted) {
        calls.push({ name: call.name, kind: callKind(call), ok: false, durationSeconds: 0, reason: `not run: ${String((signal.reason as Error)?.message ?? 'aborted')}`, failures: [], units: 0, extracted: {} });
        continue;
      }
      const result = await slots.run(() => this.tracedCall(span, service.id, call, probeCtx));
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
      authChecks.push(await slots.run(() => this.tracedAuthCheck(span, service.id, check, probeCtx)));
    }
    const lastCallAt = Date.now();
    const expected = calls.reduce((s, c) => s + c.units, 0);
    const madeCalls = calls.some((c) => c.durationSeconds > 0);

    let after: CounterReading | null = null;
    let settleSeconds: number | null = null;
    if (before.ok) {
      const settleSpan = span.child('patrol.settle', { 'patrol.service_id': service.id, 'patrol.metering.expected_delta': expected });
      try {
        const settled = await this.settle(service, before, expected, lastCallAt, () => read(settleSpan, 'settle'), signal);
        after = settled.after;
        settleSeconds = settled.matchedAt === null ? null : Math.max(0, (settled.matchedAt - lastCallAt) / 1000);
        settleSpan.set({ 'patrol.settle.matched': settled.matchedAt !== null, 'patrol.metering.settle_seconds': settleSeconds });
      } finally {
        settleSpan.end();
      }
    }

    // Shutdown during this service: not a verdict. What it read and made is kept for the next round.
    if (signal.aborted && run.shutdown()) {
      // A call the shutdown cut in flight may have been served and charged all the same (the
      // platform answered, we stopped reading): owe the units of every call that was sent,
      // whatever its outcome, so the next round does not report them as someone else's usage.
      const sent = service.calls.reduce((sum, call, i) => sum + ((calls[i]?.durationSeconds ?? 0) > 0 ? call.units : 0), 0);
      let baseline = this.baselineAfter(run.key, service.id, previous, before, lastOk, Math.max(expected, sent), madeCalls ? lastCallAt : null, null);
      // Its first read found units between rounds, but it reports nothing: leave them (and the
      // previous round's shortfall) for the next round to report, rather than absorb them.
      if (baseline && previous && unexplained && unexplained.units > 0) {
        baseline = { ...baseline, unreported: unexplained.units, shortfall: previous.shortfall, lastCallAt: previous.lastCallAt };
      }
      log.info('service not finished: shutdown');
      return {
        serviceId: service.id,
        name: service.name ?? service.id,
        appId: service.app_id,
        startedAt,
        reason: `not finished: ${String((signal.reason as Error)?.message ?? 'shutdown')}`,
        ...(baseline ? { baseline } : {}),
      };
    }

    const j = judge({ before, after, calls, authChecks, mode: service.metering.mode });
    if (j.verdict === 'ok' && settleSeconds !== null) this.rememberLag(service.id, settleSeconds);
    const baseline = this.baselineAfter(run.key, service.id, previous, before, lastOk, expected, madeCalls ? lastCallAt : null, j);
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
      ...(unexplained ? { unexplained } : {}),
      ...(baseline ? { baseline } : {}),
    };
  }

  /**
   * Compare this round's first read with the last read of the same counter (same platform day).
   * Units our own unfinished calls still owed are not unexplained; units equal to the previous
   * round's shortfall are that round's late charge; anything else nobody in this config made.
   */
  private betweenRounds(previous: CounterBaseline, first: Reading, log: Logger): UnexplainedUsage | undefined {
    // A new day or a counter that went backwards (a reset): nothing to compare.
    if (previous.day !== first.day || first.value < previous.value) return undefined;
    const units = Math.max(0, first.value - previous.value - previous.inFlight) + (previous.unreported ?? 0);
    const base = { since: { serviceId: previous.serviceId, value: previous.value, at: previous.at }, value: first.value, at: first.at };
    if (units === 0) return { ...base, units: 0, kind: 'none', reason: '' };
    const tz = this.config.global.timezone;
    const window = `between ${dateTime(tz, previous.at)} and ${dateTime(tz, first.at)}`;
    if (previous.shortfall > 0 && units === previous.shortfall) {
      // It had not arrived at the previous round's last read and had at this first read: the real lag lies between.
      const from = previous.lastCallAt ?? previous.at;
      const lagSeconds = { min: Math.max(0, previous.at - from) / 1000, max: Math.max(0, first.at - from) / 1000 };
      // The service whose round was short learns the longer lag (it lengthens its quiet period).
      this.rememberLag(previous.serviceId, lagSeconds.max);
      const reason =
        `late charge: the ${units} unit${units > 1 ? 's' : ''} the round of ${previous.serviceId} was short by arrived ${window}, ` +
        `${lagSeconds.min.toFixed(1)} to ${lagSeconds.max.toFixed(1)} s after its last call (longer than the settle timeout: the undercharge was metering lag)`;
      log.warn({ units, lagSeconds }, reason);
      return { ...base, units, kind: 'late_charge', lagSeconds, reason };
    }
    const note = previous.shortfall > 0 ? `; the previous round was short by ${previous.shortfall}, not ${units}` : '';
    const reason = `${units} unit${units > 1 ? 's' : ''} used ${window} that no call of this config made (other traffic on the app id, a leaked key, or a billing bug)${note}`;
    log.warn({ units }, 'unexplained usage between rounds');
    return { ...base, units, kind: 'unexplained', reason };
  }

  /** What this service's round leaves for the next comparison of its counter. */
  private baselineAfter(
    counterKey: string,
    serviceId: string,
    previous: CounterBaseline | undefined,
    before: CounterReading,
    lastOk: Reading | null,
    expected: number,
    lastCallAt: number | null,
    judged: { meteringOk: boolean | null; delta: number | null } | null,
  ): CounterBaseline | undefined {
    if (!lastOk) {
      // Nothing read this round: the earlier read stays the reference, and the units our calls
      // should add are owed on top of it.
      if (!previous) return undefined;
      return { ...previous, serviceId, inFlight: previous.inFlight + expected, lastCallAt: lastCallAt ?? previous.lastCallAt };
    }
    let inFlight = 0;
    let shortfall = 0;
    if (judged?.meteringOk === false && judged.delta !== null && judged.delta < expected) shortfall = expected - judged.delta;
    else if (judged?.meteringOk !== true && before.ok && lastOk.day === before.day) inFlight = Math.max(0, expected - (lastOk.value - before.value));
    return { counterKey, serviceId, value: lastOk.value, at: lastOk.at, day: lastOk.day, inFlight, shortfall, lastCallAt };
  }

  /** The longest metering lag learnt for a service (settle times of ok rounds, late charges), in seconds. */
  learntLagSeconds(serviceId: string): number | null {
    const list = this.lags.get(serviceId);
    return list && list.length > 0 ? Math.max(...list) : null;
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
    if (this.ownsTracing) await (await this.tracing).shutdown();
  }
}
