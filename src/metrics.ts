// The metrics contract (README.md "Metrics"). Per-service gauges describe the last completed round:
// they are replaced as a whole when a round ends, so a value that was unknown in that round (a
// failed counter read) has no sample rather than a stale or made-up one.
//
// Two parts, one exposition:
// - the per-service families (thousands of series at thousands of services) are kept as plain data
//   and written straight to text, once per change: prom-client's per-sample label handling took
//   ~0.4 s of blocked event loop per round at 5,000 services (see BENCHMARKS.md); the lines a
//   service's result makes are written by the round worker when it ran the round (exposition.ts);
// - the exporter-wide metrics live on the prom-client registry passed in (and anything else the
//   caller registers there, e.g. process metrics), rendered by prom-client;
// - one per-service family kept by its owner as text (patrol_service_maintenance, whose values move
//   between rounds), between the two.
// The per-service text is rendered once per change, compressed once, and served from memory; the
// registry's small part is rendered at each scrape so that its live values stay live.
import { once } from 'node:events';
import { constants as zlibConstants, crc32, createDeflateRaw, deflateRawSync } from 'node:zlib';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ServiceConfig } from './config/schema.js';
import { failureStreak } from './engine/verdict.js';
import { esc, num, RESULT_FAMILIES, rangeOf, resultLines, type LinesRef } from './exposition.js';
import type { RoundResult, ServiceResult } from './types.js';

const ROUNDS_NOTE = "Rounds run on the exporter's own schedule, not at scrape time: each call is a real, billed request and metering takes tens of seconds to settle.";
const LAST = ' Last completed round. ' + ROUNDS_NOTE;

/** The per-service families, in exposition order. */
const FAMILIES = {
  patrol_service_info: ['gauge', 'What each inspected service is (always 1).'],
  patrol_service_success: ['gauge', "Whether the service's verdict was ok (1) or not (0)." + LAST],
  patrol_call_success: ['gauge', 'Whether every call met its expectations.' + LAST],
  patrol_call_duration_seconds: ['gauge', 'Duration of each call.' + LAST],
  patrol_auth_check_success: ['gauge', 'Whether the bad credential of each auth check was rejected (0: it was accepted).' + LAST],
  patrol_usage_calls: ['gauge', "The platform's usage counter for the service, read before the calls and after metering settled." + LAST],
  patrol_count_query_success: ['gauge', 'Whether both counter reads worked.' + LAST],
  patrol_metering_delta: ['gauge', 'Counter after minus counter before.' + LAST],
  patrol_metering_expected_delta: ['gauge', 'Units the successful calls should have added to the counter.' + LAST],
  patrol_metering_success: ['gauge', 'Whether the counter rose by exactly (or, in at_least mode, at least) the expected units.' + LAST],
  patrol_metering_settle_seconds: ['gauge', 'Time from the last call until the counter showed the expected delta.' + LAST],
  patrol_service_last_run_timestamp_seconds: ['gauge', "When the service's last round finished (Unix time)."],
  patrol_service_consecutive_failures: ['gauge', 'Completed rounds in a row whose verdict was not ok (0 after an ok; a midnight reset leaves it as it was; rounds cut short by shutdown do not count). Kept across restarts. Alerts count rounds with it, so they do not depend on the schedule.'],
  patrol_metering_unexplained_delta: ['gauge', "Counter change between the previous read of the service's counter (an earlier round, same day) and this round's first read, beyond what our own calls owed (unfinished calls, and the previous round's shortfall when exactly that arrived late): 0 when nothing else used the app id. No sample when there was nothing to compare with." + LAST],
  patrol_metering_unexplained_units_total: ['counter', 'Units that appeared on the counter between rounds: late charges (also reported as such in the history) and usage no call of this config made (other traffic, a leaked key, a billing bug).'],
  patrol_calls_total: ['counter', 'Calls made to the service (auth checks not included).'],
  patrol_call_failures_total: ['counter', 'Calls that did not meet their expectations.'],
  patrol_metering_checks_total: ['counter', 'Metering checks judged (both counter reads worked, same day).'],
  patrol_metering_mismatches_total: ['counter', 'Metering checks whose delta did not match the expectation.'],
} as const;
type Family = keyof typeof FAMILIES;

interface ServiceCounters {
  calls: number;
  callFailures: number;
  meteringChecks: number;
  meteringMismatches: number;
  unexplainedUnits: number;
}

/** Services written between two yields to the event loop (a few ms of work each). */
const SLICE = 250;
/** How long a served body may be served again (see PatrolMetrics.bodies). */
const BODY_TTL_MS = 1000;
const NEWLINE = Buffer.from('\n');
const EMPTY = Buffer.alloc(0);

/**
 * Exposition text deflated so that more can follow it: ending on a byte boundary, without a final
 * block. From its pieces as they are (a stream on libuv's thread pool): joined first, each format's
 * text was another copy of the megabytes kept for the whole round.
 */
async function deflatedOf(parts: readonly Buffer[]): Promise<Buffer> {
  const deflate = createDeflateRaw({ level: 6, finishFlush: zlibConstants.Z_SYNC_FLUSH });
  const out: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => out.push(chunk));
  const ended = once(deflate, 'end');
  for (const part of parts) deflate.write(part);
  deflate.end();
  await ended;
  return Buffer.concat(out);
}

/**
 * The CRC-32 of pieces of text, continuing from `crc`. An empty piece is skipped: zlib's crc32 of an
 * empty buffer may be 0 rather than the value passed in (a buffer with no memory behind it is a null
 * pointer, which zlib reads as "start again"; seen with the empty live family).
 */
function crcOf(parts: readonly Buffer[], crc = 0): number {
  return parts.reduce((sum, part) => (part.length === 0 ? sum : crc32(part, sum)), crc);
}

/** A format's per-service text deflated once, and its CRC-32 (the start of the gzip trailer's). */
interface Deflated {
  crc: number;
  bytes: Promise<Buffer>;
}

/**
 * The per-service families rendered once per change, in each format as the list of its pieces (the
 * samples are shared: only counter names in HELP/TYPE and the blank lines differ), never joined into
 * one buffer but for a scrape without gzip; their deflated forms are made on demand.
 */
interface Rendered {
  forms: { text: Buffer[]; open: Buffer[] };
  deflated: { text: Deflated | null; open: Deflated | null };
}

/** A format's text of the per-service families, deflated once. */
function deflatedForm(r: Rendered, format: 'open' | 'text'): Deflated {
  if (r.deflated[format]) return r.deflated[format];
  return (r.deflated[format] = { crc: crcOf(r.forms[format]), bytes: deflatedOf(r.forms[format]) });
}

/** Each result's lines of family `f` as few pieces as possible: ranges that follow each other in one buffer are one piece. */
function joinedRuns(refs: LinesRef[], f: number): Buffer[] {
  const out: Buffer[] = [];
  type Run = { lines: LinesRef['lines']; start: number; end: number };
  let run = null as Run | null;
  const flush = (r: Run | null) => {
    if (r) out.push(Buffer.from(r.lines.bytes.buffer, r.lines.bytes.byteOffset + r.start, r.end - r.start));
  };
  for (const ref of refs) {
    const [start, end] = rangeOf(ref, f);
    if (run?.lines === ref.lines && run.end === start) run.end = end;
    else {
      flush(run);
      run = { lines: ref.lines, start, end };
    }
  }
  flush(run);
  return out;
}

const noCounts = (): ServiceCounters => ({ calls: 0, callFailures: 0, meteringChecks: 0, meteringMismatches: 0, unexplainedUnits: 0 });

export class PatrolMetrics {
  private readonly rounds: Counter;
  private readonly roundFailures: Counter;
  private readonly roundsSkipped: Counter;
  private readonly roundsAborted: Counter;
  private readonly historyWriteFailures: Counter;
  private readonly digestOutbox: Gauge;
  private readonly roundDuration: Gauge;
  private readonly lastRound: Gauge;
  private readonly nextRound: Gauge;
  private readonly digestLastSuccess: Gauge;
  private readonly digestFailures: Counter;
  private readonly configReloadOk: Gauge;
  private readonly configReloadTime: Gauge;

  /** Services in the config: info labels, and cumulative counters (kept across reloads). */
  private info = new Map<string, { name: string; appId: string }>();
  private readonly counters = new Map<string, ServiceCounters>();
  /**
   * Each service's result in the last round (per-service gauges are derived from it), replaced as a
   * whole when a round ends; a service that round did not finish (shutdown) keeps its previous one.
   */
  private lastResults = new Map<string, { result: ServiceResult; lines: LinesRef | null }>();
  private lastRunAt = new Map<string, number>();
  private readonly streaks = new Map<string, number>();

  constructor(readonly registry: Registry, version: string, revision = 'unknown') {
    const registers = [registry];
    const g = (name: string, help: string) => new Gauge({ name, help, registers });
    const c = (name: string, help: string) => new Counter({ name, help, registers });
    this.rounds = c('patrol_rounds_total', 'Inspection rounds completed (those cut short by shutdown are counted in patrol_rounds_aborted_total instead). ' + ROUNDS_NOTE);
    this.roundFailures = c('patrol_round_failures_total', "Rounds in which any service's verdict was not ok.");
    this.roundsSkipped = c('patrol_rounds_skipped_total', 'Rounds not started because the previous one was still running.');
    this.roundsAborted = c('patrol_rounds_aborted_total', 'Rounds cut short by shutdown; their unfinished services are neither published nor counted as failures.');
    this.historyWriteFailures = c('patrol_history_write_failures_total', 'Rounds that could not be saved to the history (disk full, read-only file): their results are on /metrics but not in the history, the pages or the digest.');
    this.digestOutbox = g('patrol_digest_outbox_messages', 'Emails (digests, round tables) waiting in the outbox for delivery; they are retried on every maintenance run and at start.');
    this.roundDuration = g('patrol_round_duration_seconds', 'Wall time of the last completed round.');
    this.lastRound = g('patrol_last_round_timestamp_seconds', 'When the last round finished (Unix time).');
    this.nextRound = g('patrol_next_round_timestamp_seconds', 'When the next scheduled round is due (Unix time; 0: none is scheduled).');
    this.digestLastSuccess = g('patrol_digest_last_success_timestamp_seconds', 'When the last daily digest was delivered (Unix time; 0: never).');
    this.digestFailures = c('patrol_digest_failures_total', 'Digests that could not be delivered (each counted once, however many attempts and retries it took).');
    this.configReloadOk = g('patrol_config_last_reload_successful', 'Whether the last configuration load or reload succeeded.');
    this.configReloadTime = g('patrol_config_last_reload_success_timestamp_seconds', 'When the configuration was last loaded successfully (Unix time).');
    const build = new Gauge({ name: 'patrol_build_info', help: 'Build information (always 1).', labelNames: ['version', 'revision', 'nodejs'], registers });
    build.set({ version, revision, nodejs: process.version }, 1);
  }

  // The per-service families change only when a round ends (or the config does): every change goes
  // through setServices, restoreFailureStreaks or recordRound, and they are rendered once per change
  // and served from memory to any number of scrapers, compressed too (Prometheus asks for gzip, and
  // at thousands of services the text is megabytes). The registry's part is small and rendered at
  // every scrape: it holds values that move on their own (process_* and nodejs_* metrics, when the
  // caller registered them).
  //
  // At 5,000 services the text is ~5 MB: rendered in one go and deflated in this thread it blocked
  // the event loop (and every scrape) for ~100-200 ms per round. So it is rendered in slices with a
  // yield between them, from a snapshot taken at once, and deflated on libuv's thread pool.
  //
  // The render starts as soon as the state changes, not at the next scrape (and the formats scraped
  // with gzip are deflated after it): Prometheus's first scrape after a round then finds both done
  // (~1 ms instead of 150-200 ms at 5,000 services).
  //
  // A scrape that arrives while a render of a newer state is under way and another scrape already
  // waits for it is served the newest finished render at once instead of waiting for the whole
  // render: under many scrapers that wait was the p99 of /metrics (BENCHMARKS.md). The first scrape
  // during a render (or the one that starts it) waits for it, so a lone scraper (Prometheus, and
  // every scrape made after a round ends) always sees the latest state; a second scraper at the same
  // instant may see the previous round's, as if it had come a moment earlier. Never a mix of two:
  // each text is rendered from one snapshot.
  private cache: Promise<Rendered> | null = null;
  /** Whether `cache` is still being rendered, and whether a scrape waits for it. */
  private rendering = false;
  private awaited = false;
  /** The newest finished render, and the number of the render it came from. */
  private finished: { rendered: Rendered; seq: number } | null = null;
  private renders = 0;
  private renderScheduled = false;
  /** The formats asked for with gzip since the start. */
  private readonly gzipFormats = new Set<'open' | 'text'>();

  private changed(): void {
    this.cache = null;
    // A render under way is of a state that is gone: a new one starts.
    this.rendering = false;
    this.bodies.clear();
    // On the next turn of the event loop: a reload or a round makes several changes at once.
    if (this.renderScheduled) return;
    this.renderScheduled = true;
    setImmediate(() => {
      this.renderScheduled = false;
      // A failed render is the next scrape's to report (it starts another).
      if (!this.cache) this.startRender(false).catch(() => undefined);
    });
  }

  /** Serving the newest finished render while the current state's is being made for another scrape. */
  private servingStale(): boolean {
    return this.rendering && this.awaited && this.finished !== null;
  }

  /**
   * Whole bodies as served, per format, for at most BODY_TTL_MS: under many scrapers a second the
   * registry's part (process metrics read /proc) and its deflate are done once, not per scrape. Any
   * change made through this class drops them at once; only values that move on their own
   * (process_*, nodejs_*) can be up to BODY_TTL_MS old.
   */
  private readonly bodies = new Map<string, { at: number; body: Promise<Buffer> }>();
  /** The same, made from the newest finished render while a newer one is being made. */
  private readonly staleBodies = new Map<string, { at: number; body: Promise<Buffer> }>();

  /**
   * A per-service family whose values move between rounds, set by its owner (the maintenance windows'
   * patrol_service_maintenance: a window starts and ends at its own time). It returns the same Buffer
   * while nothing changed, so its text is made, and deflated, once per change rather than at every
   * scrape: through prom-client it took ~12 ms and ~7 MB of garbage per scrape at 5,000 services.
   * Served between the per-service families and the registry's part, the same in both formats.
   */
  private liveFamily: (() => Buffer) | null = null;
  /** The deflated form of each live family text served, made once. */
  private readonly liveDeflated = new WeakMap<Buffer, Promise<Buffer>>();

  /** Replaces the live family (one owner: an exporter made again on the same metrics takes it over). */
  setLiveFamily(render: (() => Buffer) | null): void {
    this.liveFamily = render;
    this.touched();
  }

  /** A registry metric changed: the next scrape renders the registry's part again. */
  private touched(): void {
    this.bodies.clear();
    this.staleBodies.clear();
  }

  /** A metric kept by someone else (on the registry, or the live family) changed at once (a maintenance window created or cancelled): not served up to BODY_TTL_MS late. */
  registryChanged(): void {
    this.touched();
  }

  private services(): Promise<Rendered> {
    if (this.servingStale()) return Promise.resolve(this.finished!.rendered);
    if (this.cache) {
      this.awaited = true;
      return this.cache;
    }
    return this.startRender(true);
  }

  private startRender(awaited: boolean): Promise<Rendered> {
    const seq = ++this.renders;
    const render = this.renderServices();
    this.cache = render;
    this.rendering = true;
    this.awaited = awaited;
    const settled = () => {
      if (this.cache !== render) return;
      this.rendering = false;
      // Bodies made from the previous render while this one was under way are not served again.
      this.staleBodies.clear();
    };
    render.then((rendered) => {
      if (seq > (this.finished?.seq ?? 0)) this.finished = { rendered, seq };
      settled();
      // The formats scraped with gzip so far are deflated ahead (on libuv's thread pool), so the
      // first such scrape after a round does not wait for it (~30 ms at 5,000 services).
      for (const format of this.gzipFormats) deflatedForm(rendered, format).bytes.catch(() => undefined);
    }, settled);
    return render;
  }

  /** The exposition's parts: the cached per-service families, the live family, then the registry's metrics. */
  private async parts(openMetrics: boolean): Promise<{ head: Rendered; format: 'open' | 'text'; live: Buffer; tail: Buffer }> {
    const head = await this.services();
    const live = this.liveFamily?.() ?? EMPTY;
    const rest = await this.registry.metrics();
    // The registry's part in OpenMetrics is converted at each scrape (it is small); `# EOF` ends the
    // whole text, so it goes last. The per-service part has its own OpenMetrics pieces (rewriting
    // its megabytes line by line blocked the event loop ~60 ms at 5,000 services).
    if (!openMetrics) return { head, format: 'text', live, tail: Buffer.from(rest) };
    return { head, format: 'open', live, tail: Buffer.from(toOpenMetrics(rest)) };
  }

  async exposition(openMetrics: boolean): Promise<string> {
    const { head, format, live, tail } = await this.parts(openMetrics);
    return Buffer.concat([...head.forms[format], live, tail]).toString('utf8');
  }

  /**
   * The exposition as bytes, gzip-compressed when asked. One gzip member (every client reads it):
   * the per-service text (in each format) and the live family are each deflated once per change and
   * end on a byte boundary without a final block (a sync flush); the registry's part, deflated at
   * each scrape, follows as the final blocks. Back-references never reach before a block's own
   * stream, so the three make one valid stream.
   */
  body(openMetrics: boolean, gzip: boolean): Promise<Buffer> {
    const key = `${openMetrics}|${gzip}`;
    const now = performance.now();
    const bodies = this.servingStale() ? this.staleBodies : this.bodies;
    const kept = bodies.get(key);
    if (kept && now - kept.at < BODY_TTL_MS) return kept.body;
    const body = this.freshBody(openMetrics, gzip);
    bodies.set(key, { at: now, body });
    // A failed render is not kept.
    body.catch(() => bodies.get(key)?.body === body && bodies.delete(key));
    return body;
  }

  private async freshBody(openMetrics: boolean, gzip: boolean): Promise<Buffer> {
    const { head, format, live, tail } = await this.parts(openMetrics);
    const text = [...head.forms[format], live, tail];
    if (!gzip) return Buffer.concat(text);
    // OpenMetrics too: Prometheus asks for it first, so most real scrapes are in that format.
    this.gzipFormats.add(format);
    const headDeflated = deflatedForm(head, format);
    let liveDeflated = this.liveDeflated.get(live);
    if (!liveDeflated) this.liveDeflated.set(live, (liveDeflated = deflatedOf([live])));
    const deflated = await Promise.all([headDeflated.bytes, liveDeflated]);
    const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crcOf([live, tail], headDeflated.crc), 0);
    trailer.writeUInt32LE(text.reduce((sum, part) => sum + part.length, 0) % 2 ** 32, 4);
    return Buffer.concat([header, ...deflated, deflateRawSync(tail, { level: 6 }), trailer]);
  }

  /** The info metric follows the config; counters of new services start at 0 so rate() works from the first round. */
  setServices(services: ServiceConfig[]): void {
    this.info = new Map();
    for (const s of services) {
      if (!s.enabled) continue;
      this.info.set(s.id, { name: s.name ?? s.id, appId: s.app_id });
      if (!this.counters.has(s.id)) this.counters.set(s.id, noCounts());
    }
    this.changed();
  }

  configLoaded(ok: boolean): void {
    this.configReloadOk.set(ok ? 1 : 0);
    if (ok) this.configReloadTime.set(Date.now() / 1000);
    this.touched();
  }

  roundSkipped(): void {
    this.roundsSkipped.inc();
    this.touched();
  }

  setNextRound(at: Date | null): void {
    if (at) this.nextRound.set(at.getTime() / 1000);
    else this.nextRound.reset();
    this.touched();
  }

  digestDelivered(at = Date.now()): void {
    this.digestLastSuccess.set(at / 1000);
    this.touched();
  }

  digestFailed(): void {
    this.digestFailures.inc();
    this.touched();
  }

  setOutboxMessages(pending: number): void {
    this.digestOutbox.set(pending);
    this.touched();
  }

  historyWriteFailed(): void {
    this.historyWriteFailures.inc();
    this.touched();
  }

  /** Failure streaks from the history at start, so a deploy does not reset an alert counted in rounds. */
  restoreFailureStreaks(streaks: Map<string, number>): void {
    for (const [id, n] of streaks) this.streaks.set(id, n);
    this.changed();
  }

  failureStreak(serviceId: string): number {
    return this.streaks.get(serviceId) ?? 0;
  }

  /**
   * A round's finished services are published and counted; those cut short by shutdown are not
   * (their previous values stay). A round cut short counts in patrol_rounds_aborted_total only.
   */
  recordRound(round: RoundResult, lines?: ReadonlyMap<string, LinesRef>): void {
    const previous = this.lastResults;
    this.lastResults = new Map(round.services.map((s) => [s.serviceId, { result: s, lines: lines?.get(s.serviceId) ?? null }]));
    for (const a of round.abortedServices ?? []) {
      const kept = previous.get(a.serviceId);
      if (kept) this.lastResults.set(a.serviceId, kept);
    }
    for (const s of round.services) {
      this.lastRunAt.set(s.serviceId, s.finishedAt / 1000);
      this.streaks.set(s.serviceId, failureStreak(this.streaks.get(s.serviceId) ?? 0, s.verdict));
      let c = this.counters.get(s.serviceId);
      if (!c) this.counters.set(s.serviceId, (c = noCounts()));
      c.calls += s.calls.length;
      c.callFailures += s.calls.filter((x) => !x.ok).length;
      if (s.meteringOk !== null) {
        c.meteringChecks++;
        if (!s.meteringOk) c.meteringMismatches++;
      }
      c.unexplainedUnits += s.unexplained?.units ?? 0;
    }
    if (round.aborted) {
      this.roundsAborted.inc();
    } else {
      this.rounds.inc();
      if (round.services.some((s) => s.verdict !== 'ok' && s.verdict !== 'maintenance')) this.roundFailures.inc();
      this.roundDuration.set(round.durationSeconds);
      this.lastRound.set(round.finishedAt / 1000);
    }
    this.changed();
  }

  /**
   * The per-service families as exposition bytes. The state is copied at once (a round ending
   * meanwhile does not mix into this text); the text is then written in slices of services with a
   * yield between them. Each slice's text is turned into bytes at its end, so no step handles a
   * megabyte string at once; the pieces are listed (not joined) in family order at the end.
   */
  private async renderServices(): Promise<Rendered> {
    const info = [...this.info];
    const results = [...this.lastResults.values()];
    const streaks = info.map(([id]) => this.streaks.get(id) ?? 0);
    const lastRunAt = [...this.lastRunAt];
    const counters = [...this.counters].map(([id, c]) => [id, { ...c }] as const);
    const names = Object.keys(FAMILIES) as Family[];
    const out = Object.fromEntries(names.map((f) => [f, ''])) as Record<Family, string>;
    const pieces = Object.fromEntries(names.map((f) => [f, [] as Buffer[]])) as Record<Family, Buffer[]>;
    const slice = async () => {
      for (const f of names) {
        if (out[f] === '') continue;
        pieces[f].push(Buffer.from(out[f]));
        out[f] = '';
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    };
    for (let i = 0; i < info.length; i++) {
      if (i > 0 && i % SLICE === 0) await slice();
      const [id, s] = info[i];
      out.patrol_service_info += `patrol_service_info{service_id="${esc(id)}",name="${esc(s.name)}",app_id="${esc(s.appId)}"} 1\n`;
      out.patrol_service_consecutive_failures += `patrol_service_consecutive_failures{service_id="${esc(id)}"} ${streaks[i]}\n`;
    }
    // The results' lines: written by the round worker when it ran the round (exposition.ts), else
    // here, a slice at a time, and kept with the result for the next render. Ranges that follow
    // each other in one buffer (a round's, or a slice's) are one piece.
    for (let i = 0; i < results.length; i += SLICE) {
      const missing = results.slice(i, i + SLICE).filter((k) => !k.lines);
      if (missing.length === 0) continue;
      const lines = resultLines(missing.map((k) => k.result));
      missing.forEach((k, index) => (k.lines = { lines, index }));
      await slice();
    }
    const refs = results.map((k) => k.lines!);
    RESULT_FAMILIES.forEach((family, f) => pieces[family].push(...joinedRuns(refs, f)));
    for (let i = 0; i < lastRunAt.length; i++) {
      if (i % SLICE === 0) await slice();
      const [id, at] = lastRunAt[i];
      out.patrol_service_last_run_timestamp_seconds += `patrol_service_last_run_timestamp_seconds{service_id="${esc(id)}"} ${num(at)}\n`;
    }
    for (let i = 0; i < counters.length; i++) {
      if (i % SLICE === 0) await slice();
      const [id, c] = counters[i];
      const sid = `{service_id="${esc(id)}"}`;
      out.patrol_calls_total += `patrol_calls_total${sid} ${c.calls}\n`;
      out.patrol_call_failures_total += `patrol_call_failures_total${sid} ${c.callFailures}\n`;
      out.patrol_metering_checks_total += `patrol_metering_checks_total${sid} ${c.meteringChecks}\n`;
      out.patrol_metering_mismatches_total += `patrol_metering_mismatches_total${sid} ${c.meteringMismatches}\n`;
      out.patrol_metering_unexplained_units_total += `patrol_metering_unexplained_units_total${sid} ${c.unexplainedUnits}\n`;
    }
    await slice();
    // OpenMetrics: a counter's family name has no _total in HELP/TYPE (its samples keep it), and no
    // blank lines; `# EOF` is added after the registry's part. The same as toOpenMetrics(text).
    const text: Buffer[] = [];
    const open: Buffer[] = [];
    for (const [family, [type, help]] of Object.entries(FAMILIES) as [Family, (typeof FAMILIES)[Family]][]) {
      const name = type === 'counter' && family.endsWith('_total') ? family.slice(0, -'_total'.length) : family;
      text.push(Buffer.from(`# HELP ${family} ${help}\n# TYPE ${family} ${type}\n`), ...pieces[family], NEWLINE);
      open.push(Buffer.from(`# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`), ...pieces[family]);
    }
    return { forms: { text, open }, deflated: { text: null, open: null } };
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
