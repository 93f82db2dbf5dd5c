// History in SQLite (better-sqlite3, WAL): every round, every service verdict with its readings and
// timings, and the digest outbox. One transaction per round, so a crash (even kill -9) loses at most
// the round being written and never leaves half a round or a corrupt file. The schema is versioned
// with PRAGMA user_version; each migration runs in its own transaction.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { dayIn, dayRange } from '../util/time.js';
import type { AbortedService, CallResult, CounterBaseline, CounterReading, RoundResult, ServiceResult, UnexplainedUsage, Verdict } from '../types.js';
import { baselinesOf } from '../engine/baselines.js';
import { failureStreak } from '../engine/verdict.js';
import { HOURS, hourOf, spread, summariseRound, unexplainedOf, type DigestData, type Mismatch, type ServiceDay, type Unexplained, type VerdictCounts } from '../digest/build.js';
import { overviewCollector } from './overview.js';
import type { RoundStore, ServiceHistoryEntry, ServiceOverview } from './types.js';

type DB = Database.Database;

/** What a queued email is: the daily digest, or one round's table (`run-once --mail`). */
export type OutboxKind = 'digest' | 'round';

export interface OutboxMessage {
  id: number;
  kind: OutboxKind;
  /** The day it reports (YYYY-MM-DD). */
  day: string;
  subject: string;
  html: string;
  text: string;
  status: 'pending' | 'sent';
  attempts: number;
  lastError: string | null;
  createdAt: number;
  sentAt: number | null;
}

/**
 * Migrations, in order: migration i takes the file from user_version i to i + 1. Never edit one
 * that has shipped; add the next.
 */
const MIGRATIONS: ((db: DB) => void)[] = [
  (db) =>
    db.exec(`
      CREATE TABLE rounds (
        id               TEXT PRIMARY KEY,
        trigger          TEXT NOT NULL,
        started_at       INTEGER NOT NULL,  -- Unix ms
        finished_at      INTEGER NOT NULL,
        duration_seconds REAL NOT NULL,
        aborted          INTEGER NOT NULL,
        service_count    INTEGER NOT NULL,
        failed_count     INTEGER NOT NULL
      );
      CREATE INDEX rounds_started_at ON rounds (started_at);

      -- One row per service per round. The columns hold every figure the digest, the pages and
      -- the day's history need. "result", the whole ServiceResult with request and response
      -- excerpts, is kept only when the verdict is not ok: at one-minute rounds of 100 services,
      -- keeping it for every ok verdict made 30 days of history ~9 GB (see BENCHMARKS.md).
      CREATE TABLE verdicts (
        round_id        TEXT NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
        position        INTEGER NOT NULL,
        service_id      TEXT NOT NULL,
        name            TEXT NOT NULL,
        app_id          TEXT NOT NULL,
        verdict         TEXT NOT NULL,
        reason          TEXT NOT NULL,
        started_at      INTEGER NOT NULL,
        finished_at     INTEGER NOT NULL,
        before_value    INTEGER,
        before_error    TEXT,
        after_value     INTEGER,
        after_error     TEXT,
        delta           INTEGER,
        expected_delta  INTEGER NOT NULL,
        metering_mode   TEXT NOT NULL,
        metering_ok     INTEGER,
        call_ok         INTEGER NOT NULL,
        auth_ok         INTEGER,
        count_query_ok  INTEGER NOT NULL,
        settle_seconds  REAL,
        call_seconds    TEXT NOT NULL,      -- JSON: [{"call": name, "kind": k, "seconds": s, "status": n}]
        call_reasons    TEXT NOT NULL,      -- JSON: [{"call": name, "reason": why}] of the failed calls
        result          TEXT,               -- JSON: the whole ServiceResult, when the verdict is not ok
        PRIMARY KEY (round_id, position)
      );
      CREATE INDEX verdicts_service ON verdicts (service_id, started_at);

      -- Emails to deliver. A message stays 'pending' until the SMTP server accepted it; pending
      -- messages are never pruned.
      CREATE TABLE outbox (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        kind        TEXT NOT NULL CHECK (kind IN ('digest', 'round')),
        day         TEXT NOT NULL,
        subject     TEXT NOT NULL,
        html        TEXT NOT NULL,
        text        TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('pending', 'sent')),
        attempts    INTEGER NOT NULL DEFAULT 0,
        last_error  TEXT,
        created_at  INTEGER NOT NULL,
        sent_at     INTEGER
      );
      CREATE INDEX outbox_status ON outbox (status, created_at);
    `),
  (db) =>
    db.exec(`
      -- Rounds cut short by shutdown keep only what they finished in verdicts; the services they
      -- did not finish are listed here (JSON: AbortedService[]), never as verdicts.
      ALTER TABLE rounds ADD COLUMN aborted_services TEXT;
      ALTER TABLE rounds ADD COLUMN timed_out INTEGER NOT NULL DEFAULT 0;
      -- Counter movement between rounds: units (null: nothing to compare with) and, when units
      -- appeared, the whole finding (JSON: UnexplainedUsage).
      ALTER TABLE verdicts ADD COLUMN unexplained_units INTEGER;
      ALTER TABLE verdicts ADD COLUMN unexplained TEXT;
      -- The last known state of each counter (JSON: CounterBaseline), one row per counter, so the
      -- comparison between rounds survives a restart. Replaced only by a newer one.
      -- Covering: a service's verdicts newest first without reading the rows (the failure streaks at start).
      DROP INDEX verdicts_service;
      CREATE INDEX verdicts_service ON verdicts (service_id, started_at, verdict);
      -- A round in progress (one row, deleted when the round is saved): a row left at start means
      -- the last process died mid-round (kill -9), and its calls may have been charged unrecorded.
      CREATE TABLE rounds_in_progress (started_at INTEGER NOT NULL);
      CREATE TABLE counter_baselines (
        counter_key TEXT PRIMARY KEY,
        baseline    TEXT NOT NULL,
        left_at     INTEGER NOT NULL       -- Unix ms: when the round left it
      );
    `),
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

const bool = (v: boolean | null) => (v === null ? null : v ? 1 : 0);

interface OutboxRow {
  id: number;
  kind: OutboxKind;
  day: string;
  subject: string;
  html: string;
  text: string;
  status: 'pending' | 'sent';
  attempts: number;
  last_error: string | null;
  created_at: number;
  sent_at: number | null;
}

const toMessage = (r: OutboxRow): OutboxMessage => ({
  id: r.id,
  kind: r.kind,
  day: r.day,
  subject: r.subject,
  html: r.html,
  text: r.text,
  status: r.status,
  attempts: r.attempts,
  lastError: r.last_error,
  createdAt: r.created_at,
  sentAt: r.sent_at,
});

interface VerdictRow {
  round_id: string;
  service_id: string;
  name: string;
  app_id: string;
  verdict: ServiceResult['verdict'];
  reason: string;
  started_at: number;
  finished_at: number;
  before_value: number | null;
  before_error: string | null;
  after_value: number | null;
  after_error: string | null;
  delta: number | null;
  expected_delta: number;
  metering_mode: ServiceResult['meteringMode'];
  metering_ok: number | null;
  call_ok: number;
  auth_ok: number | null;
  count_query_ok: number;
  settle_seconds: number | null;
  call_seconds: string;
  call_reasons: string;
  result: string | null;
  unexplained_units: number | null;
  unexplained: string | null;
}

const flag = (v: number | null) => (v === null ? null : v === 1);

/** A stored verdict: whole when kept, else rebuilt from the columns (no excerpts, no auth check details). */
function fromRow(r: VerdictRow): ServiceResult {
  if (r.result !== null) return JSON.parse(r.result) as ServiceResult;
  const reasons = new Map((JSON.parse(r.call_reasons) as { call: string; reason: string }[]).map((c) => [c.call, c.reason]));
  const calls = (JSON.parse(r.call_seconds) as { call: string; kind?: CallResult['kind']; seconds: number; status?: number | null }[]).map(
    (c): CallResult => ({
      name: c.call,
      kind: c.kind ?? 'http',
      ok: !reasons.has(c.call),
      durationSeconds: c.seconds,
      ...(c.status != null ? { status: c.status } : {}),
      reason: reasons.get(c.call) ?? '',
      failures: [],
      units: 0,
      extracted: {},
    }),
  );
  const reading = (value: number | null, error: string | null, at: number): CounterReading | null =>
    value !== null ? { ok: true, value, at, day: '' } : error !== null ? { ok: false, reason: error, at } : null;
  return {
    serviceId: r.service_id,
    name: r.name,
    appId: r.app_id,
    verdict: r.verdict,
    reason: r.reason,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    before: reading(r.before_value, r.before_error, r.started_at),
    after: reading(r.after_value, r.after_error, r.finished_at),
    delta: r.delta,
    expectedDelta: r.expected_delta,
    meteringMode: r.metering_mode,
    meteringOk: flag(r.metering_ok),
    callOk: r.call_ok === 1,
    authOk: flag(r.auth_ok),
    countQueryOk: r.count_query_ok === 1,
    settleSeconds: r.settle_seconds,
    calls,
    authChecks: [],
    ...(r.unexplained !== null ? { unexplained: JSON.parse(r.unexplained) as UnexplainedUsage } : {}),
  };
}

export class SqliteStore implements RoundStore {
  readonly db: DB;
  readonly file: string;
  private closed = false;
  private readonly insertRound: Database.Statement;
  private readonly insertVerdict: Database.Statement;
  private readonly upsertBaseline: Database.Statement;
  private readonly saveTx: (round: RoundResult) => void;
  /** The last round saved by this process, whole (ok verdicts keep their excerpts here only). */
  private last: RoundResult | null = null;

  /** Opens (creating and migrating when needed) the history file. Throws StoreError. */
  constructor(file: string) {
    this.file = file;
    try {
      if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      // `timeout`: wait for another process (e.g. `patrol digest --send` next to `serve`) instead of failing at once.
      this.db = new Database(file, { timeout: 5000 });
    } catch (err) {
      throw new StoreError(`cannot open the history file ${file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      this.db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode: a process crash (kill -9) loses nothing committed and never corrupts
      // the file; a power cut may lose the last rounds, not the file. FULL's fsync per round cost
      // ~8 ms a round (BENCHMARKS.md).
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      this.migrate();
    } catch (err) {
      this.db.close();
      if (err instanceof StoreError) throw err;
      throw new StoreError(`cannot prepare the history file ${file}: ${(err as Error).message}`, { cause: err });
    }
    this.insertRound = this.db.prepare(
      `INSERT OR REPLACE INTO rounds (id, trigger, started_at, finished_at, duration_seconds, aborted, service_count, failed_count, aborted_services, timed_out)
       VALUES (@id, @trigger, @startedAt, @finishedAt, @durationSeconds, @aborted, @serviceCount, @failedCount, @abortedServices, @timedOut)`,
    );
    this.insertVerdict = this.db.prepare(
      `INSERT INTO verdicts (round_id, position, service_id, name, app_id, verdict, reason, started_at, finished_at,
         before_value, before_error, after_value, after_error, delta, expected_delta, metering_mode, metering_ok,
         call_ok, auth_ok, count_query_ok, settle_seconds, call_seconds, call_reasons, result, unexplained_units, unexplained)
       VALUES (@roundId, @position, @serviceId, @name, @appId, @verdict, @reason, @startedAt, @finishedAt,
         @beforeValue, @beforeError, @afterValue, @afterError, @delta, @expectedDelta, @meteringMode, @meteringOk,
         @callOk, @authOk, @countQueryOk, @settleSeconds, @callSeconds, @callReasons, @result, @unexplainedUnits, @unexplained)`,
    );
    this.upsertBaseline = this.db.prepare(
      `INSERT INTO counter_baselines (counter_key, baseline, left_at) VALUES (?, ?, ?)
       ON CONFLICT (counter_key) DO UPDATE SET baseline = excluded.baseline, left_at = excluded.left_at WHERE excluded.left_at >= counter_baselines.left_at`,
    );
    this.saveTx = this.db.transaction((round: RoundResult) => {
      this.last = round;
      this.db.prepare('DELETE FROM rounds_in_progress').run();
      // Saving a round id again replaces it whole (REPLACE deletes the old row, the cascade its verdicts).
      this.insertRound.run({
        id: round.id,
        trigger: round.trigger,
        startedAt: round.startedAt,
        finishedAt: round.finishedAt,
        durationSeconds: round.durationSeconds,
        aborted: round.aborted ? 1 : 0,
        serviceCount: round.services.length,
        failedCount: round.services.filter((s) => s.verdict !== 'ok').length,
        abortedServices: round.abortedServices?.length ? JSON.stringify(round.abortedServices) : null,
        timedOut: round.timedOut ? 1 : 0,
      });
      for (const { baseline, at } of baselinesOf(round)) this.upsertBaseline.run(baseline.counterKey, JSON.stringify(baseline), at);
      round.services.forEach((s, position) => {
        this.insertVerdict.run({
          roundId: round.id,
          position,
          serviceId: s.serviceId,
          name: s.name,
          appId: s.appId,
          verdict: s.verdict,
          reason: s.reason,
          startedAt: s.startedAt,
          finishedAt: s.finishedAt,
          beforeValue: s.before?.ok ? s.before.value : null,
          beforeError: s.before && !s.before.ok ? s.before.reason : null,
          afterValue: s.after?.ok ? s.after.value : null,
          afterError: s.after && !s.after.ok ? s.after.reason : null,
          delta: s.delta,
          expectedDelta: s.expectedDelta,
          meteringMode: s.meteringMode,
          meteringOk: bool(s.meteringOk),
          callOk: s.callOk ? 1 : 0,
          authOk: bool(s.authOk),
          countQueryOk: s.countQueryOk ? 1 : 0,
          settleSeconds: s.settleSeconds,
          callSeconds: JSON.stringify(s.calls.map((c) => ({ call: c.name, kind: c.kind, seconds: c.durationSeconds, status: c.status ?? null }))),
          callReasons: JSON.stringify(s.calls.filter((c) => !c.ok).map((c) => ({ call: c.name, reason: c.reason }))),
          result: s.verdict === 'ok' ? null : JSON.stringify(s),
          unexplainedUnits: s.unexplained?.units ?? null,
          // Only a finding is kept in full; "nothing moved" is the units column's 0.
          unexplained: s.unexplained && s.unexplained.units > 0 ? JSON.stringify(s.unexplained) : null,
        });
      });
    });
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new StoreError(`${this.file} has history schema version ${current}, newer than this patrol_exporter knows (${MIGRATIONS.length}): upgrade patrol_exporter or use another storage.path`);
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        MIGRATIONS[v](this.db);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  save(round: RoundResult): void {
    if (this.closed) throw new StoreError(`the history file ${this.file} is closed`);
    this.saveTx(round);
  }

  roundStarting(at: number): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM rounds_in_progress').run();
      this.db.prepare('INSERT INTO rounds_in_progress (started_at) VALUES (?)').run(at);
    })();
  }

  interruptedRoundAt(): number | null {
    return (this.db.prepare('SELECT max(started_at) FROM rounds_in_progress').pluck().get() as number | null) ?? null;
  }

  counterBaselines(): CounterBaseline[] {
    return (this.db.prepare('SELECT baseline FROM counter_baselines ORDER BY left_at').all() as { baseline: string }[]).map((r) => JSON.parse(r.baseline) as CounterBaseline);
  }

  /** Walks each service's verdicts back to its last ok (bounded), then folds them forward with the one rule. */
  failureStreaks(serviceIds: string[]): Map<string, number> {
    const out = new Map<string, number>();
    const stmt = this.db.prepare('SELECT verdict FROM verdicts WHERE service_id = ? ORDER BY started_at DESC LIMIT 100000');
    for (const id of serviceIds) {
      const back: Verdict[] = [];
      for (const row of stmt.iterate(id) as IterableIterator<{ verdict: Verdict }>) {
        if (row.verdict === 'ok') break;
        back.push(row.verdict);
      }
      out.set(id, back.reverse().reduce(failureStreak, 0));
    }
    return out;
  }

  private roundsWhere(where: string, params: unknown[], order: 'ASC' | 'DESC', limit?: number): RoundResult[] {
    const rows = this.db
      .prepare(
        `SELECT id, trigger, started_at, finished_at, duration_seconds, aborted, aborted_services, timed_out FROM rounds ${where} ORDER BY started_at ${order}, id ${order}${limit !== undefined ? ' LIMIT ?' : ''}`,
      )
      .all(...params, ...(limit !== undefined ? [limit] : [])) as {
      id: string;
      trigger: RoundResult['trigger'];
      started_at: number;
      finished_at: number;
      duration_seconds: number;
      aborted: number;
      aborted_services: string | null;
      timed_out: number;
    }[];
    if (rows.length === 0) return [];
    // One query for all the rounds' verdicts (a day of one-minute rounds is 1,440 rounds).
    const byRound = new Map<string, ServiceResult[]>(rows.map((r) => [r.id, []]));
    const ids = rows.filter((r) => this.last?.id !== r.id).map((r) => r.id);
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const verdicts = this.db.prepare(`SELECT * FROM verdicts WHERE round_id IN (${chunk.map(() => '?').join(',')}) ORDER BY round_id, position`).all(...chunk) as VerdictRow[];
      for (const v of verdicts) byRound.get(v.round_id)!.push(fromRow(v));
    }
    return rows.map((r) =>
      this.last?.id === r.id
        ? this.last
        : {
            id: r.id,
            trigger: r.trigger,
            startedAt: r.started_at,
            finishedAt: r.finished_at,
            durationSeconds: r.duration_seconds,
            aborted: r.aborted === 1,
            ...(r.timed_out === 1 ? { timedOut: true } : {}),
            services: byRound.get(r.id)!,
            ...(r.aborted_services !== null ? { abortedServices: JSON.parse(r.aborted_services) as AbortedService[] } : {}),
          },
    );
  }

  /** The latest round that finished at least one service (one cut short before any has nothing to show). */
  latest(): RoundResult | null {
    return this.roundsWhere('WHERE service_count > 0', [], 'DESC', 1)[0] ?? null;
  }

  byDay(day: string, timezone: string): RoundResult[] {
    const { start, end } = dayRange(day, timezone);
    // A margin of a few hours either side, then the exact test: robust to zones whose midnight is skipped.
    const margin = 3 * 3_600_000;
    return this.roundsWhere('WHERE started_at >= ? AND started_at < ?', [start - margin, end + margin], 'ASC').filter((r) => dayIn(timezone, r.startedAt) === day);
  }

  /** The last `limit` rounds, newest first. */
  recent(limit: number): RoundResult[] {
    return this.roundsWhere('', [], 'DESC', limit);
  }

  /** One service's last `limit` verdicts, newest first. */
  serviceHistory(serviceId: string, limit: number): ServiceHistoryEntry[] {
    const rows = this.db
      .prepare(
        `SELECT v.*, r.started_at AS round_started_at FROM verdicts v JOIN rounds r ON r.id = v.round_id
         WHERE v.service_id = ? ORDER BY v.started_at DESC, r.started_at DESC LIMIT ?`,
      )
      .all(serviceId, limit) as (VerdictRow & { round_started_at: number })[];
    return rows.map((r) => {
      const whole = this.last?.id === r.round_id ? this.last.services.find((s) => s.serviceId === serviceId) : undefined;
      return { roundId: r.round_id, roundStartedAt: r.round_started_at, result: whole ?? fromRow(r) };
    });
  }

  /**
   * The status page's per-service figures, from the indexed columns (no JSON parsed), so the page
   * stays cheap with thousands of services. Services are in the latest round's order.
   */
  overview(day: string, timezone: string, recentRounds: number): ServiceOverview[] {
    const { start, end } = dayRange(day, timezone);
    const { entry, values } = overviewCollector();
    const latest = this.db.prepare('SELECT id FROM rounds WHERE service_count > 0 ORDER BY started_at DESC, id DESC LIMIT 1').get() as { id: string } | undefined;
    if (latest) {
      for (const v of this.db.prepare('SELECT service_id, name FROM verdicts WHERE round_id = ? ORDER BY position').all(latest.id) as { service_id: string; name: string }[]) entry(v.service_id, v.name);
    }
    const recent = this.db
      .prepare(
        `SELECT v.service_id, v.name, v.verdict, v.finished_at FROM verdicts v
         WHERE v.round_id IN (SELECT id FROM rounds ORDER BY started_at DESC, id DESC LIMIT ?) ORDER BY v.finished_at, v.position`,
      )
      .all(recentRounds) as { service_id: string; name: string; verdict: ServiceResult['verdict']; finished_at: number }[];
    for (const v of recent) entry(v.service_id, v.name).recent.push({ at: v.finished_at, verdict: v.verdict });
    const counts = this.db
      .prepare(
        `SELECT v.service_id, v.name, count(*) AS n, sum(v.verdict = 'ok') AS ok FROM verdicts v JOIN rounds r ON r.id = v.round_id
         WHERE r.started_at >= ? AND r.started_at < ? GROUP BY v.service_id`,
      )
      .all(start, end) as { service_id: string; name: string; n: number; ok: number }[];
    for (const c of counts) {
      const o = entry(c.service_id, c.name);
      o.roundsToday = c.n;
      o.okToday = c.ok;
    }
    return values();
  }

  /**
   * The digest of one day from the columns, in one pass: reading a day of one-minute rounds as
   * whole results took seconds (BENCHMARKS.md). Gives exactly what buildDigest gives for the same
   * rounds (a test checks it).
   */
  digestData(day: string, timezone: string): DigestData {
    const { start, end } = dayRange(day, timezone);
    const inDay = 'FROM verdicts v JOIN rounds r ON r.id = v.round_id WHERE r.started_at >= @start AND r.started_at < @end';
    const p = { start, end };
    const latestRow = this.db.prepare('SELECT id FROM rounds WHERE started_at >= @start AND started_at < @end AND service_count > 0 ORDER BY started_at DESC, id DESC LIMIT 1').get(p) as { id: string } | undefined;
    const latest = latestRow ? (this.last?.id === latestRow.id ? this.last : this.roundsWhere('WHERE id = ?', [latestRow.id], 'DESC')[0]) : null;
    const totals = this.db
      .prepare(
        `SELECT sum(r.service_count > 0) AS rounds, sum(r.aborted) AS aborted,
           sum(EXISTS (SELECT 1 FROM verdicts v WHERE v.round_id = r.id AND v.verdict NOT IN ('ok', 'indeterminate'))) AS failed
         FROM rounds r WHERE r.started_at >= @start AND r.started_at < @end`,
      )
      .get(p) as { rounds: number | null; aborted: number | null; failed: number | null };
    // One pass over the day's verdict rows, raw (arrays, not objects), in the order the rounds index
    // gives (round start, then position: no sort of the day's rows). The call durations are taken
    // from the stored JSON with a regex: json_each over a day took most of the time.
    interface Acc { name: string; n: number; ok: number; calls: number; counts: number; auths: number; unexplained: number; latency: number[]; settle: number[]; hours: VerdictCounts[] }
    const acc = new Map<string, Acc>();
    const mismatches: Mismatch[] = [];
    const unexplained: Unexplained[] = [];
    const rows = this.db
      .prepare(
        `SELECT v.service_id, v.name, v.verdict, v.finished_at, v.call_ok, v.count_query_ok, v.auth_ok, v.metering_ok, v.delta, v.expected_delta,
           v.settle_seconds, v.call_seconds, v.unexplained ${inDay}`,
      )
      .raw()
      .all(p) as [string, string, Verdict, number, number, number, number | null, number | null, number | null, number, number | null, string, string | null][];
    for (const [id, name, verdict, finishedAt, callOk, countOk, authOk, meteringOk, delta, expected, settle, calls, unexplainedJson] of rows) {
      let a = acc.get(id);
      if (!a) acc.set(id, (a = { name, n: 0, ok: 0, calls: 0, counts: 0, auths: 0, unexplained: 0, latency: [], settle: [], hours: Array.from({ length: HOURS }, () => ({})) }));
      if (unexplainedJson !== null) {
        const u = unexplainedOf({ serviceId: id, name, unexplained: JSON.parse(unexplainedJson) as UnexplainedUsage });
        if (u) {
          unexplained.push(u);
          a.unexplained += u.units;
        }
      }
      a.n++;
      if (verdict === 'ok') a.ok++;
      if (callOk === 0) a.calls++;
      if (countOk === 0) a.counts++;
      if (authOk === 0) a.auths++;
      if (settle !== null) a.settle.push(settle);
      for (const m of calls.matchAll(/"seconds":(-?[\d.]+(?:e[-+]?\d+)?)/g)) a.latency.push(Number(m[1]));
      const h = a.hours[hourOf(finishedAt, start, end)];
      h[verdict] = (h[verdict] ?? 0) + 1;
      if (meteringOk === 0 && delta !== null) {
        const diff = delta - expected;
        mismatches.push({ serviceId: id, name, at: finishedAt, direction: diff > 0 ? 'over' : 'under', size: Math.abs(diff), expected, delta });
      }
    }
    mismatches.sort((a, b) => a.at - b.at);
    unexplained.sort((a, b) => a.at - b.at || a.serviceId.localeCompare(b.serviceId));
    // The latest round's order (the config's) first, then services seen only earlier in the day.
    const order = new Map((latest?.services ?? []).map((s, i) => [s.serviceId, i]));
    const ids = [...acc.keys()].sort((a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity) || a.localeCompare(b));
    const services: ServiceDay[] = ids.map((id) => {
      const a = acc.get(id)!;
      return {
        serviceId: id,
        name: latest?.services.find((x) => x.serviceId === id)?.name ?? a.name,
        rounds: a.n,
        ok: a.ok,
        successRatio: a.n === 0 ? null : a.ok / a.n,
        callFailures: a.calls,
        countQueryFailures: a.counts,
        authFailures: a.auths,
        mismatches: mismatches.filter((m) => m.serviceId === id),
        unexplainedUnits: a.unexplained,
        latency: spread(a.latency),
        settle: spread(a.settle),
        hours: a.hours,
      };
    });
    return {
      day,
      timezone,
      dayStart: start,
      dayEnd: end,
      rounds: totals.rounds ?? 0,
      failedRounds: totals.failed ?? 0,
      abortedRounds: totals.aborted ?? 0,
      latest: latest ? summariseRound(latest) : null,
      services,
      mismatches,
      unexplained,
    };
  }

  /** Deletes rounds that started before `before` (Unix ms) and delivered emails older than that. Pending emails stay. */
  prune(before: number): { rounds: number; messages: number } {
    return this.db.transaction(() => {
      const rounds = this.db.prepare('DELETE FROM rounds WHERE started_at < ?').run(before).changes;
      const messages = this.db.prepare("DELETE FROM outbox WHERE status = 'sent' AND created_at < ?").run(before).changes;
      return { rounds, messages };
    })();
  }

  roundCount(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM rounds').get() as { n: number }).n;
  }

  // The outbox: emails waiting for delivery survive restarts here.

  enqueue(message: { kind: OutboxKind; day: string; subject: string; html: string; text: string }, at = Date.now()): OutboxMessage {
    const info = this.db
      .prepare("INSERT INTO outbox (kind, day, subject, html, text, status, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)")
      .run(message.kind, message.day, message.subject, message.html, message.text, at);
    return this.message(Number(info.lastInsertRowid))!;
  }

  message(id: number): OutboxMessage | null {
    const row = this.db.prepare('SELECT * FROM outbox WHERE id = ?').get(id) as OutboxRow | undefined;
    return row ? toMessage(row) : null;
  }

  pending(): OutboxMessage[] {
    return (this.db.prepare("SELECT * FROM outbox WHERE status = 'pending' ORDER BY created_at, id").all() as OutboxRow[]).map(toMessage);
  }

  pendingCount(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM outbox WHERE status = 'pending'").get() as { n: number }).n;
  }

  /** The messages of one kind for one day (any status), oldest first. */
  messagesFor(kind: OutboxKind, day: string): OutboxMessage[] {
    return (this.db.prepare('SELECT * FROM outbox WHERE kind = ? AND day = ? ORDER BY id').all(kind, day) as OutboxRow[]).map(toMessage);
  }

  markSent(id: number, at = Date.now()): void {
    this.db.prepare("UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?").run(at, id);
  }

  markFailed(id: number, error: string): void {
    this.db.prepare('UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?').run(error, id);
  }

  /**
   * A round another connection to this file saved (the round worker's): kept whole here too, as
   * save() keeps it, so the pages show the latest round's excerpts.
   */
  savedElsewhere(round: RoundResult): void {
    this.last = round;
  }

  integrityCheck(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
