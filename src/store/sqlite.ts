// History in SQLite (better-sqlite3, WAL): every round, every service verdict, hourly rollups
// of the figures, and (digest/outbox.ts) the emails to deliver. One transaction per round, rollups
// included, so a crash (even kill -9) loses at most the round being written and never leaves half a
// round or a corrupt file. Ok verdicts are kept compact (store/compact.ts), failures whole. The
// schema is versioned with PRAGMA user_version; each migration runs in its own transaction.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { dayIn, dayRange } from '../util/time.js';
import type { AbortedService, CallResult, CounterBaseline, CounterReading, RoundResult, ServiceResult, UnexplainedUsage, Verdict } from '../types.js';
import { baselinesOf } from '../engine/baselines.js';
import { failureStreak } from '../engine/verdict.js';
import { compactable, packOks, shapeOf, unpackOks, type Shape } from './compact.js';
import { overviewCollector } from './overview.js';
import { addToDay, addVerdict, DAY_SLOTS, sliOf, decodeHistogram, emptyRollup, encodeHistogram, rollupRounds, type Counted, SLOT_MS, slotOf, type DayRollup, type DayRows, type Notable, type SlotRollup } from './rollup.js';
import type { RoundStore, ServiceHistoryEntry, ServiceOverview } from './types.js';
import { sliCountsFromDb, type SliCounts } from './sli.js';

type DB = Database.Database;

/**
 * Migrations, in order: migration i takes the file from user_version i to i + 1. Never edit one
 * that has shipped; add the next.
 */
export const MIGRATIONS: readonly ((db: DB) => void)[] = [
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
  (db) =>
    db.exec(`
      -- What does not change from round to round for a service (id, name, app id, metering mode,
      -- expected delta, call names and kinds), stored once (JSON: store/compact.ts Shape).
      CREATE TABLE service_shapes (id INTEGER PRIMARY KEY, shape TEXT NOT NULL UNIQUE);
      -- A round's plain ok verdicts: deflated JSON tuples (store/compact.ts). Every other verdict
      -- (failures, findings of usage between rounds) stays a whole row in verdicts. Rows written
      -- before this version keep their ok verdicts in verdicts too; both are read.
      CREATE TABLE round_oks (
        round_id TEXT PRIMARY KEY REFERENCES rounds (id) ON DELETE CASCADE,
        data     BLOB NOT NULL
      ) WITHOUT ROWID;
      -- One service's figures over the rounds that started in one hour (slot: Unix ms / 3600000),
      -- written in the round's transaction; the digest and the day table read these.
      CREATE TABLE rollups (
        slot              INTEGER NOT NULL,
        service_id        TEXT NOT NULL,
        name              TEXT NOT NULL,     -- its name in the latest of these rounds
        name_at           INTEGER NOT NULL,  -- that round's start
        rounds            INTEGER NOT NULL,
        ok                INTEGER NOT NULL,
        verdicts          TEXT,              -- JSON: counts of the other verdicts; null when none
        call_failures     INTEGER NOT NULL,
        count_failures    INTEGER NOT NULL,
        auth_failures     INTEGER NOT NULL,
        unexplained_units INTEGER NOT NULL,
        latency           BLOB,              -- histogram of call durations in ms (store/rollup.ts)
        settle            BLOB,              -- histogram of settle times in ms
        PRIMARY KEY (slot, service_id)
      ) WITHOUT ROWID;
      CREATE INDEX rollups_service ON rollups (service_id, slot, ok);
      -- Hours whose rollups must be (re)built from the rounds before they are read: rounds
      -- deleted (pruning, by hand) put their slot here, and so does this migration for the history
      -- written before it (built in small steps on the maintenance schedule, or when a day is read).
      CREATE TABLE rollup_pending (slot INTEGER PRIMARY KEY);
      CREATE TRIGGER rounds_deleted AFTER DELETE ON rounds BEGIN
        INSERT OR IGNORE INTO rollup_pending (slot) VALUES (old.started_at / 3600000);
      END;
      INSERT OR IGNORE INTO rollup_pending (slot) SELECT DISTINCT started_at / 3600000 FROM rounds;
    `),
  // The OpenTelemetry trace of each round (docs/tracing.md), which every verdict of the round shares
  // (ServiceResult.traceId). Added only when missing: idempotent, whatever order the migrations
  // of other features run in.
  (db) => {
    if (!db.prepare("SELECT 1 FROM pragma_table_info('rounds') WHERE name = 'trace_id'").get()) db.exec('ALTER TABLE rounds ADD COLUMN trace_id TEXT');
  },
  // The counts behind the SLIs (store/sli.ts: calls, failed calls, judged metering checks,
  // mismatches) in each hourly rollup, and summed per UTC day in sli_days, so a 28-day budget reads
  // 28 rows of integers per service instead of decoding 672 histograms. Rollups written before
  // have them null: read the old way (sli.ts) until the maintenance schedule rebuilds their hours,
  // listed in rollup_sli_pending (store.rollupStep). Idempotent, like the one above.
  (db) => {
    const has = new Set(db.prepare("SELECT name FROM pragma_table_info('rollups')").pluck().all() as string[]);
    for (const column of ['calls', 'failed_calls', 'checks', 'mismatches']) if (!has.has(column)) db.exec(`ALTER TABLE rollups ADD COLUMN ${column} INTEGER`);
    db.exec(`
      CREATE TABLE IF NOT EXISTS rollup_sli_pending (slot INTEGER PRIMARY KEY);
      INSERT OR IGNORE INTO rollup_sli_pending (slot) SELECT DISTINCT slot FROM rollups WHERE calls IS NULL;
      -- The sums of one service's hourly rollups that have the counts, over a UTC day (slot / 24).
      CREATE TABLE IF NOT EXISTS sli_days (
        day          INTEGER NOT NULL,
        service_id   TEXT NOT NULL,
        name         TEXT NOT NULL,     -- its name in the latest of those rounds
        name_at      INTEGER NOT NULL,
        calls        INTEGER NOT NULL,
        failed_calls INTEGER NOT NULL,
        checks       INTEGER NOT NULL,
        mismatches   INTEGER NOT NULL,
        PRIMARY KEY (day, service_id)
      ) WITHOUT ROWID;
      INSERT OR REPLACE INTO sli_days (day, service_id, name, name_at, calls, failed_calls, checks, mismatches)
        SELECT slot / 24, service_id, name, max(name_at), sum(calls), sum(failed_calls), sum(checks), sum(mismatches)
        FROM rollups WHERE calls IS NOT NULL GROUP BY slot / 24, service_id;
    `);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

const bool = (v: boolean | null) => (v === null ? null : v ? 1 : 0);

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

/** A verdict rebuilt from the columns or a compact tuple takes its round's trace id (a whole one kept its own);
 *  a service held by a maintenance window was not inspected, has no span in that trace, and takes none. */
const withTrace = (s: ServiceResult, traceId: string | null): ServiceResult => (traceId && !s.traceId && s.verdict !== 'maintenance' ? { ...s, traceId } : s);

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

interface RollupRow {
  slot: number;
  service_id: string;
  name: string;
  name_at: number;
  rounds: number;
  ok: number;
  verdicts: string | null;
  call_failures: number;
  count_failures: number;
  auth_failures: number;
  unexplained_units: number;
  latency: Buffer | null;
  settle: Buffer | null;
  /** Null in rollups written before these columns (see the migration). */
  calls: number | null;
  failed_calls: number | null;
  checks: number | null;
  mismatches: number | null;
}

function rollupOfRow(r: RollupRow): SlotRollup {
  const verdicts = r.verdicts ? (JSON.parse(r.verdicts) as SlotRollup['verdicts']) : {};
  if (r.ok > 0) verdicts.ok = r.ok;
  return {
    slot: r.slot,
    serviceId: r.service_id,
    name: r.name,
    nameAt: r.name_at,
    rounds: r.rounds,
    verdicts,
    callFailures: r.call_failures,
    countQueryFailures: r.count_failures,
    authFailures: r.auth_failures,
    unexplainedUnits: r.unexplained_units,
    calls: r.calls ?? 0,
    failedCalls: r.failed_calls ?? 0,
    checks: r.checks ?? 0,
    mismatches: r.mismatches ?? 0,
    latency: decodeHistogram(r.latency),
    settle: decodeHistogram(r.settle),
  };
}

function rowOfRollup(r: SlotRollup): RollupRow {
  const { ok = 0, ...others } = r.verdicts;
  return {
    slot: r.slot,
    service_id: r.serviceId,
    name: r.name,
    name_at: r.nameAt,
    rounds: r.rounds,
    ok,
    verdicts: Object.keys(others).length > 0 ? JSON.stringify(others) : null,
    call_failures: r.callFailures,
    count_failures: r.countQueryFailures,
    auth_failures: r.authFailures,
    unexplained_units: r.unexplainedUnits,
    latency: encodeHistogram(r.latency),
    settle: encodeHistogram(r.settle),
    calls: r.calls,
    failed_calls: r.failedCalls,
    checks: r.checks,
    mismatches: r.mismatches,
  };
}

/** A step of background work (pruning, building rollups): what it did and whether work remains. */
export interface StepResult {
  done: number;
  more: boolean;
}

/**
 * Steps aim at this many ms (the budget is 50): the batch size grows while steps are quicker and
 * shrinks when one is slower, so the main thread is never held long whatever the disk and the rows.
 */
const STEP_TARGET_MS = 20;

class Batch {
  constructor(
    public size: number,
    private readonly max: number,
  ) {}

  timed<T>(fn: (n: number) => T): T {
    const t = performance.now();
    const out = fn(this.size);
    const ms = performance.now() - t;
    if (ms < STEP_TARGET_MS / 2) this.size = Math.min(this.max, this.size * 2);
    else if (ms > STEP_TARGET_MS) this.size = Math.max(1, Math.floor((this.size * STEP_TARGET_MS) / ms));
    return out;
  }
}

export class SqliteStore implements RoundStore {
  readonly db: DB;
  readonly file: string;
  private closed = false;
  private readonly insertRound: Database.Statement;
  private readonly insertVerdict: Database.Statement;
  private readonly insertOks: Database.Statement;
  private readonly upsertBaseline: Database.Statement;
  private readonly upsertRollup: Database.Statement;
  private readonly addToSliDay: Database.Statement;
  private readonly saveTx: (round: RoundResult) => void;
  /** The last round saved by this process, whole (ok verdicts keep their excerpts here only). */
  private last: RoundResult | null = null;
  private readonly shapeIds = new Map<string, number>();
  private readonly shapes = new Map<number, Shape>();
  private readonly pruneBatch = new Batch(64, 5000);
  // An hour of history from before version 3 (6,000 rows at one-minute rounds of 100 services) is ~20-40 ms: start at one.
  private readonly rollupBatch = new Batch(1, 500);

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
      `INSERT INTO rounds (id, trigger, started_at, finished_at, duration_seconds, aborted, service_count, failed_count, aborted_services, timed_out)
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
    this.insertOks = this.db.prepare('INSERT INTO round_oks (round_id, data) VALUES (?, ?)');
    this.upsertBaseline = this.db.prepare(
      `INSERT INTO counter_baselines (counter_key, baseline, left_at) VALUES (?, ?, ?)
       ON CONFLICT (counter_key) DO UPDATE SET baseline = excluded.baseline, left_at = excluded.left_at WHERE excluded.left_at >= counter_baselines.left_at`,
    );
    this.upsertRollup = this.db.prepare(
      `INSERT OR REPLACE INTO rollups (slot, service_id, name, name_at, rounds, ok, verdicts, call_failures, count_failures, auth_failures, unexplained_units, latency, settle,
         calls, failed_calls, checks, mismatches)
       VALUES (@slot, @service_id, @name, @name_at, @rounds, @ok, @verdicts, @call_failures, @count_failures, @auth_failures, @unexplained_units, @latency, @settle,
         @calls, @failed_calls, @checks, @mismatches)`,
    );
    // SQLite evaluates every SET expression against the row as it was.
    this.addToSliDay = this.db.prepare(
      `INSERT INTO sli_days (day, service_id, name, name_at, calls, failed_calls, checks, mismatches)
       VALUES (@day, @serviceId, @name, @nameAt, @calls, @failedCalls, @checks, @mismatches)
       ON CONFLICT (day, service_id) DO UPDATE SET
         calls = calls + excluded.calls, failed_calls = failed_calls + excluded.failed_calls,
         checks = checks + excluded.checks, mismatches = mismatches + excluded.mismatches,
         name = CASE WHEN excluded.name_at >= name_at THEN excluded.name ELSE name END, name_at = max(name_at, excluded.name_at)`,
    );
    const saveTx = this.db.transaction((round: RoundResult) => {
      // Until it is committed, reads (the rebuild of rollups below) see the file, not a stale whole round.
      this.last = null;
      this.db.prepare('DELETE FROM rounds_in_progress').run();
      // Saving a round id again replaces it whole: the delete cascades to its verdicts and marks
      // its hour for a rebuild of the rollups (trigger rounds_deleted).
      this.db.prepare('DELETE FROM rounds WHERE id = ?').run(round.id);
      this.insertRound.run({
        id: round.id,
        trigger: round.trigger,
        startedAt: round.startedAt,
        finishedAt: round.finishedAt,
        durationSeconds: round.durationSeconds,
        aborted: round.aborted ? 1 : 0,
        serviceCount: round.services.length,
        failedCount: round.services.filter((s) => s.verdict !== 'ok' && s.verdict !== 'maintenance').length,
        abortedServices: round.abortedServices?.length ? JSON.stringify(round.abortedServices) : null,
        timedOut: round.timedOut ? 1 : 0,
      });
      const traceId = round.services.find((s) => s.traceId)?.traceId;
      if (traceId) this.db.prepare('UPDATE rounds SET trace_id = ? WHERE id = ?').run(traceId, round.id);
      for (const { baseline, at } of baselinesOf(round)) this.upsertBaseline.run(baseline.counterKey, JSON.stringify(baseline), at);
      const oks: { position: number; shapeId: number; s: ServiceResult }[] = [];
      round.services.forEach((s, position) => {
        if (compactable(s)) oks.push({ position, shapeId: this.shapeId(s), s });
        else this.insertVerdict.run(verdictParams(round.id, position, s));
      });
      if (oks.length > 0) this.insertOks.run(round.id, packOks(round.startedAt, oks));
      // The rollups of its hour, in the same transaction: added to, or rebuilt when that
      // hour is pending (a replaced round, history from before rollups).
      const slot = slotOf(round.startedAt);
      if (this.db.prepare('SELECT 1 FROM rollup_pending WHERE slot = ?').pluck().get(slot)) this.rebuildSlots([slot]);
      else this.addToRollups(round, slot);
      this.last = round;
    });
    // IMMEDIATE: the write lock is taken at BEGIN, so a second connection writing the same file
    // (a writer thread, `patrol digest`) waits on the busy timeout instead of failing mid-transaction.
    this.saveTx = (round) => saveTx.immediate(round);
  }

  private shapeId(s: ServiceResult): number {
    const shape = shapeOf(s);
    let id = this.shapeIds.get(shape);
    if (id === undefined) {
      this.db.prepare('INSERT OR IGNORE INTO service_shapes (shape) VALUES (?)').run(shape);
      id = this.db.prepare('SELECT id FROM service_shapes WHERE shape = ?').pluck().get(shape) as number;
      this.shapeIds.set(shape, id);
    }
    return id;
  }

  private shape(id: number): Shape {
    let shape = this.shapes.get(id);
    if (!shape) {
      const text = this.db.prepare('SELECT shape FROM service_shapes WHERE id = ?').pluck().get(id) as string | undefined;
      if (text === undefined) throw new StoreError(`${this.file}: a stored verdict refers to service shape ${id}, which is missing`);
      shape = JSON.parse(text) as Shape;
      this.shapes.set(id, shape);
    }
    return shape;
  }

  private addToRollups(round: RoundResult, slot: number): void {
    if (round.services.length === 0) return;
    const rows = this.db.prepare('SELECT * FROM rollups WHERE slot = ?').all(slot) as RollupRow[];
    // An hour written before the SLI columns has no counts to add to: rebuilt whole (this round included).
    if (rows.some((r) => r.calls === null)) return this.rebuildSlots([slot]);
    const existing = new Map(rows.map((r) => [r.service_id, rollupOfRow(r)]));
    for (const s of round.services) {
      let r = existing.get(s.serviceId);
      if (!r) existing.set(s.serviceId, (r = emptyRollup(slot, s.serviceId, s.name, round.startedAt)));
      addVerdict(r, s, round.startedAt);
      this.upsertRollup.run(rowOfRollup(r));
      // The day's sums gain what the hour gained.
      this.addToSliDay.run({ day: Math.floor(slot / DAY_SLOTS), serviceId: s.serviceId, name: s.name, nameAt: round.startedAt, ...sliOf(s) });
    }
  }

  /** The SLI sums of UTC days made again from their hourly rollups (after those were rebuilt or deleted). */
  private refreshSliDays(days: Iterable<number>): void {
    for (const day of new Set(days)) {
      this.db.prepare('DELETE FROM sli_days WHERE day = ?').run(day);
      this.db
        .prepare(
          `INSERT INTO sli_days (day, service_id, name, name_at, calls, failed_calls, checks, mismatches)
           SELECT @day, service_id, name, max(name_at), sum(calls), sum(failed_calls), sum(checks), sum(mismatches)
           FROM rollups WHERE slot >= @from AND slot < @to AND calls IS NOT NULL GROUP BY service_id`,
        )
        .run({ day, from: day * DAY_SLOTS, to: (day + 1) * DAY_SLOTS });
    }
  }

  /** Rebuilds the rollups of hours from their rounds (inside the caller's transaction). */
  private rebuildSlots(slots: number[]): void {
    for (const slot of slots) {
      this.db.prepare('DELETE FROM rollups WHERE slot = ?').run(slot);
      for (const r of this.rollupsFromRows(slot)) this.upsertRollup.run(rowOfRollup(r));
      this.db.prepare('DELETE FROM rollup_pending WHERE slot = ?').run(slot);
      this.db.prepare('DELETE FROM rollup_sli_pending WHERE slot = ?').run(slot);
    }
    this.refreshSliDays(slots.map((slot) => Math.floor(slot / DAY_SLOTS)));
  }

  /**
   * The rollups of an hour from what is stored: the columns of the rows (no whole result parsed;
   * call durations by regex from the JSON, json_each was slower) and the compact ok verdicts. An
   * hour of history written before version 3 (every verdict a row) takes ~30 ms.
   */
  private rollupsFromRows(slot: number): SlotRollup[] {
    const out = new Map<string, SlotRollup>();
    const add = (serviceId: string, s: Counted, roundStartedAt: number) => {
      let r = out.get(serviceId);
      if (!r) out.set(serviceId, (r = emptyRollup(slot, serviceId, s.name, roundStartedAt)));
      addVerdict(r, s, roundStartedAt);
    };
    const range = [slot * SLOT_MS, (slot + 1) * SLOT_MS];
    const rows = this.db
      .prepare(
        `SELECT r.started_at, v.service_id, v.name, v.verdict, v.call_ok, v.count_query_ok, v.auth_ok, v.settle_seconds, v.call_seconds, v.unexplained,
                v.metering_ok, json_array_length(v.call_reasons)
         FROM rounds r JOIN verdicts v ON v.round_id = r.id WHERE r.started_at >= ? AND r.started_at < ?`,
      )
      .raw()
      .all(...range) as [number, string, string, Verdict, number, number, number | null, number | null, string, string | null, number | null, number][];
    for (const [at, serviceId, name, verdict, callOk, countOk, authOk, settle, calls, unexplained, meteringOk, failedCalls] of rows) {
      add(
        serviceId,
        {
          name,
          verdict,
          callOk: callOk === 1,
          countQueryOk: countOk === 1,
          authOk: flag(authOk),
          settleSeconds: settle,
          meteringOk: flag(meteringOk),
          ...(unexplained !== null ? { unexplained: JSON.parse(unexplained) as UnexplainedUsage } : {}),
          // call_reasons lists the failed calls: a rollup keeps only how many failed, not which.
          calls: [...calls.matchAll(/"seconds":(-?[\d.]+(?:e[-+]?\d+)?)/g)].map((m, i) => ({ durationSeconds: Number(m[1]), ok: callOk === 1 || i >= failedCalls })),
        },
        at,
      );
    }
    const oks = this.db
      .prepare('SELECT r.started_at, o.data FROM rounds r JOIN round_oks o ON o.round_id = r.id WHERE r.started_at >= ? AND r.started_at < ?')
      .raw()
      .all(...range) as [number, Buffer][];
    for (const [at, data] of oks) for (const { result } of unpackOks(data, at, (id) => this.shape(id))) add(result.serviceId, result, at);
    return [...out.values()];
  }

  /** Pending hours of [start, end) rebuilt before they are read. */
  private ensureRollups(start: number, end: number): void {
    const pending = this.db.prepare('SELECT slot FROM rollup_pending WHERE slot >= ? AND slot <= ?').pluck().all(slotOf(start), slotOf(end - 1)) as number[];
    if (pending.length > 0) this.db.transaction(() => this.rebuildSlots(pending)).immediate();
  }

  /**
   * One step of building pending rollups (history written before rollups existed), newest first,
   * sized to take ~20 ms. The maintenance schedule runs steps until none is left, yielding between them.
   */
  rollupStep(): StepResult {
    return this.rollupBatch.timed((n) =>
      this.db
        .transaction(() => {
          // Hours with no rollups yet, and hours whose rollups lack the SLI counts (both rebuilt the same way).
          const slots = this.db
            .prepare('SELECT slot FROM rollup_pending UNION SELECT slot FROM rollup_sli_pending ORDER BY slot DESC LIMIT ?')
            .pluck()
            .all(n + 1) as number[];
          this.rebuildSlots(slots.slice(0, n));
          return { done: Math.min(n, slots.length), more: slots.length > n };
        })
        .immediate(),
    );
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

  /** One service's verdicts in the rounds that started in an hour (both kinds of storage). */
  private serviceInSlot(serviceId: string, slot: number): ServiceHistoryEntry[] {
    return this.roundsWhere('WHERE started_at >= ? AND started_at < ?', [slot * SLOT_MS, (slot + 1) * SLOT_MS], 'ASC').flatMap((r) =>
      r.services.filter((s) => s.serviceId === serviceId).map((result) => ({ roundId: r.id, roundStartedAt: r.startedAt, result })),
    );
  }

  /**
   * Each service's completed rounds in a row that were not ok. Not-ok verdicts are rows; the last ok
   * is found in the latest hour whose rollup counts one (or among the rows, for history
   * written before rollups), then the rows after it are folded forward with the one rule.
   */
  failureStreaks(serviceIds: string[]): Map<string, number> {
    const out = new Map<string, number>();
    const lastOkSlot = this.db.prepare('SELECT slot FROM rollups WHERE service_id = ? AND ok > 0 ORDER BY slot DESC LIMIT 1').pluck();
    const rows = this.db.prepare('SELECT verdict, started_at FROM verdicts WHERE service_id = ? ORDER BY started_at DESC LIMIT 100000');
    // Services usually share their latest ok hour: its rounds are read once for all of them.
    const hours = new Map<number, RoundResult[]>();
    const roundsOf = (slot: number) => {
      let rounds = hours.get(slot);
      if (!rounds) hours.set(slot, (rounds = this.roundsWhere('WHERE started_at >= ? AND started_at < ?', [slot * SLOT_MS, (slot + 1) * SLOT_MS], 'ASC')));
      return rounds;
    };
    for (const id of serviceIds) {
      const slot = lastOkSlot.get(id) as number | undefined;
      let lastOk = -Infinity;
      if (slot !== undefined) for (const r of roundsOf(slot)) for (const s of r.services) if (s.serviceId === id && s.verdict === 'ok') lastOk = Math.max(lastOk, s.startedAt);
      const back: Verdict[] = [];
      for (const row of rows.iterate(id) as IterableIterator<{ verdict: Verdict; started_at: number }>) {
        if (row.verdict === 'ok' || row.started_at <= lastOk) break;
        back.push(row.verdict);
      }
      out.set(id, back.reverse().reduce(failureStreak, 0));
    }
    return out;
  }

  private roundsWhere(where: string, params: unknown[], order: 'ASC' | 'DESC', limit?: number): RoundResult[] {
    const rows = this.db
      .prepare(
        `SELECT id, trigger, started_at, finished_at, duration_seconds, aborted, aborted_services, timed_out, trace_id FROM rounds ${where} ORDER BY started_at ${order}, id ${order}${limit !== undefined ? ' LIMIT ?' : ''}`,
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
      trace_id: string | null;
    }[];
    if (rows.length === 0) return [];
    // One query per 500 rounds for the rows, one for the compact ok verdicts; merged by position.
    const byRound = new Map<string, { position: number; result: ServiceResult }[]>(rows.map((r) => [r.id, []]));
    const startOf = new Map(rows.map((r) => [r.id, r.started_at]));
    const ids = rows.filter((r) => this.last?.id !== r.id).map((r) => r.id);
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const marks = chunk.map(() => '?').join(',');
      for (const v of this.db.prepare(`SELECT * FROM verdicts WHERE round_id IN (${marks})`).all(...chunk) as (VerdictRow & { position: number })[]) {
        byRound.get(v.round_id)!.push({ position: v.position, result: fromRow(v) });
      }
      for (const o of this.db.prepare(`SELECT round_id, data FROM round_oks WHERE round_id IN (${marks})`).all(...chunk) as { round_id: string; data: Buffer }[]) {
        byRound.get(o.round_id)!.push(...unpackOks(o.data, startOf.get(o.round_id)!, (id) => this.shape(id)));
      }
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
            services: byRound
              .get(r.id)!
              .sort((a, b) => a.position - b.position)
              .map((e) => withTrace(e.result, r.trace_id)),
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

  /**
   * One service's last `limit` verdicts, newest first: the newest rows, and the compact ok verdicts
   * of the newest hours whose rollup counts an ok for it, until either is enough.
   */
  serviceHistory(serviceId: string, limit: number): ServiceHistoryEntry[] {
    const rows = this.db
      .prepare(
        `SELECT v.*, r.started_at AS round_started_at, r.trace_id AS round_trace_id FROM verdicts v JOIN rounds r ON r.id = v.round_id
         WHERE v.service_id = ? ORDER BY v.started_at DESC, r.started_at DESC LIMIT ?`,
      )
      .all(serviceId, limit) as (VerdictRow & { round_started_at: number; round_trace_id: string | null })[];
    const out: ServiceHistoryEntry[] = rows.map((r) => {
      const whole = this.last?.id === r.round_id ? this.last.services.find((s) => s.serviceId === serviceId) : undefined;
      return { roundId: r.round_id, roundStartedAt: r.round_started_at, result: whole ?? withTrace(fromRow(r), r.round_trace_id) };
    });
    // Older than the oldest of `limit` rows (with an hour for long rounds): cannot make the cut.
    const floor = rows.length === limit ? rows[rows.length - 1].started_at - 3_600_000 : -Infinity;
    const seen = new Set(out.map((e) => e.roundId));
    let compact = 0;
    for (const slot of this.db.prepare('SELECT slot FROM rollups WHERE service_id = ? AND ok > 0 ORDER BY slot DESC').pluck().iterate(serviceId) as IterableIterator<number>) {
      if (compact >= limit || (slot + 1) * SLOT_MS < floor) break;
      for (const e of this.serviceInSlot(serviceId, slot)) {
        if (seen.has(e.roundId)) continue;
        out.push(e);
        compact++;
      }
    }
    return out.sort((a, b) => b.result.startedAt - a.result.startedAt || b.roundStartedAt - a.roundStartedAt).slice(0, limit);
  }

  /**
   * The status page's per-service figures: today's counts from the rollups, the recent verdicts
   * from the last rounds. Services are in the latest round's order.
   */
  overview(day: string, timezone: string, recentRounds: number): ServiceOverview[] {
    const { start, end } = dayRange(day, timezone);
    this.ensureRollups(start, end);
    const { entry, values } = overviewCollector();
    for (const s of this.latest()?.services ?? []) entry(s.serviceId, s.name);
    const recent = this.recent(recentRounds).reverse();
    for (const r of recent) for (const s of r.services) entry(s.serviceId, s.name).recent.push({ at: s.finishedAt, verdict: s.verdict });
    const counts = this.db
      .prepare('SELECT service_id, name, sum(rounds) AS n, sum(ok) AS ok FROM rollups WHERE slot >= ? AND slot < ? GROUP BY service_id')
      .all(Math.ceil(start / SLOT_MS), Math.floor(end / SLOT_MS)) as { service_id: string; name: string; n: number; ok: number }[];
    for (const c of counts) {
      const o = entry(c.service_id, c.name);
      o.roundsToday += c.n;
      o.okToday += c.ok;
    }
    for (const r of this.edgeRollups(start, end)) {
      const o = entry(r.serviceId, r.name);
      o.roundsToday += r.rounds;
      o.okToday += r.verdicts.ok ?? 0;
    }
    return values();
  }

  /**
   * Rollups of the rounds of [start, end) in the hours it covers only in part (a day starting at a
   * half hour), from the rounds themselves: the whole hours' rollups are read from the table.
   */
  private edgeRollups(start: number, end: number): SlotRollup[] {
    const first = Math.ceil(start / SLOT_MS) * SLOT_MS;
    const last = Math.max(first, Math.floor(end / SLOT_MS) * SLOT_MS);
    const ranges = [
      [start, Math.min(first, end)],
      [Math.max(last, start), end],
    ].filter(([a, b]) => a < b);
    return rollupRounds(ranges.flatMap(([a, b]) => this.roundsWhere('WHERE started_at >= ? AND started_at < ?', [a, b], 'ASC')));
  }

  /**
   * What the digest needs for the rounds that started in [start, end): counts from the rounds
   * table, the hourly rollups, and the few rows listed one by one (digest/query.ts computes
   * the figures). A day of one-minute rounds of 100 services is 2,400 rollup rows.
   */
  dayRows(start: number, end: number): DayRows {
    this.ensureRollups(start, end);
    const p = { start, end };
    const totals = this.db
      .prepare('SELECT sum(service_count > 0) AS rounds, sum(aborted) AS aborted FROM rounds WHERE started_at >= @start AND started_at < @end')
      .get(p) as { rounds: number | null; aborted: number | null };
    // Failures are always rows, so this reads the day's failed verdicts, not the day's verdicts.
    const failed = this.db
      .prepare(
        `SELECT count(DISTINCT v.round_id) FROM rounds r JOIN verdicts v ON v.round_id = r.id
         WHERE r.started_at >= @start AND r.started_at < @end AND v.verdict NOT IN ('ok', 'indeterminate', 'maintenance')`,
      )
      .pluck()
      .get(p) as number;
    const latestRow = this.db.prepare('SELECT id FROM rounds WHERE started_at >= @start AND started_at < @end AND service_count > 0 ORDER BY started_at DESC, id DESC LIMIT 1').get(p) as { id: string } | undefined;
    const latest = latestRow ? (this.last?.id === latestRow.id ? this.last : this.roundsWhere('WHERE id = ?', [latestRow.id], 'DESC')[0]) : null;
    // Added to each service's day as they are read, histograms decoded straight into it: objects
    // per row were most of the time.
    const days = new Map<string, DayRollup>();
    const rows = this.db
      .prepare('SELECT slot, service_id, name, name_at, rounds, ok, verdicts, call_failures, count_failures, auth_failures, unexplained_units, latency, settle FROM rollups WHERE slot >= ? AND slot < ?')
      .raw()
      .all(Math.ceil(start / SLOT_MS), Math.floor(end / SLOT_MS)) as [number, string, string, number, number, number, string | null, number, number, number, number, Buffer | null, Buffer | null][];
    for (const [slot, serviceId, name, nameAt, rounds, ok, verdicts, callFailures, countFailures, authFailures, units, latency, settle] of rows) {
      const counts = verdicts ? (JSON.parse(verdicts) as SlotRollup['verdicts']) : {};
      if (ok > 0) counts.ok = ok;
      // The day's figures do not use the SLI counts (sliCounts reads them on its own): left at 0.
      const day = addToDay(
        days,
        { slot, serviceId, name, nameAt, rounds, verdicts: counts, callFailures, countQueryFailures: countFailures, authFailures, unexplainedUnits: units, calls: 0, failedCalls: 0, checks: 0, mismatches: 0 },
        start,
        end,
      );
      decodeHistogram(latency, day.latency);
      decodeHistogram(settle, day.settle);
    }
    for (const r of this.edgeRollups(start, end)) {
      const day = addToDay(days, r, start, end);
      for (const [k, n] of r.latency) day.latency.set(k, (day.latency.get(k) ?? 0) + n);
      for (const [k, n] of r.settle) day.settle.set(k, (day.settle.get(k) ?? 0) + n);
    }
    const notable = (
      this.db
        .prepare(
          `SELECT v.service_id, v.name, v.finished_at, v.metering_ok, v.delta, v.expected_delta, v.unexplained, r.trace_id FROM rounds r JOIN verdicts v ON v.round_id = r.id
           WHERE r.started_at >= @start AND r.started_at < @end AND ((v.metering_ok = 0 AND v.delta IS NOT NULL) OR v.unexplained IS NOT NULL)
           ORDER BY r.started_at, r.id, v.position`,
        )
        .all(p) as { service_id: string; name: string; finished_at: number; metering_ok: number | null; delta: number | null; expected_delta: number; unexplained: string | null; trace_id: string | null }[]
    ).map(
      (v): Notable => ({
        serviceId: v.service_id,
        name: v.name,
        finishedAt: v.finished_at,
        meteringOk: flag(v.metering_ok),
        delta: v.delta,
        expectedDelta: v.expected_delta,
        ...(v.unexplained !== null ? { unexplained: JSON.parse(v.unexplained) as UnexplainedUsage } : {}),
        ...(v.trace_id ? { traceId: v.trace_id } : {}),
      }),
    );
    return { rounds: totals.rounds ?? 0, failedRounds: failed, abortedRounds: totals.aborted ?? 0, latest, services: [...days.values()], notable };
  }

  /**
   * One service's verdicts, counted, for the rounds that started in [start, end) (the uptime
   * badge): its rollups of the whole hours, and the rounds of the hours cut by start or end.
   */
  serviceVerdicts(serviceId: string, start: number, end: number): Partial<Record<Verdict, number>> {
    this.ensureRollups(start, end);
    const out: Partial<Record<Verdict, number>> = {};
    const add = (v: Verdict, n: number) => (out[v] = (out[v] ?? 0) + n);
    const rows = this.db
      .prepare('SELECT ok, verdicts FROM rollups WHERE service_id = ? AND slot >= ? AND slot < ?')
      .raw()
      .all(serviceId, Math.ceil(start / SLOT_MS), Math.floor(end / SLOT_MS)) as [number, string | null][];
    for (const [ok, verdicts] of rows) {
      if (ok > 0) add('ok', ok);
      for (const [v, n] of Object.entries(verdicts ? (JSON.parse(verdicts) as Record<Verdict, number>) : {}) as [Verdict, number][]) add(v, n);
    }
    for (const r of this.edgeRollups(start, end)) if (r.serviceId === serviceId) for (const [v, n] of Object.entries(r.verdicts) as [Verdict, number][]) add(v, n);
    return out;
  }

  /** The counts behind the SLIs for the rounds that started in [start, end) (store/sli.ts). */
  sliCounts(start: number, end: number): SliCounts[] {
    this.ensureRollups(start, end);
    return sliCountsFromDb(this.db, start, end, this.edgeRollups(start, end));
  }

  /**
   * One step of pruning: deletes the oldest rounds that started before `before` (Unix ms), whole
   * hours at a time (about as many rounds as take ~20 ms), with their verdicts and rollups;
   * the hour `before` falls in, when cut in two, has its rollups rebuilt. The maintenance
   * schedule runs steps, yielding between them, so nothing waits long behind a big prune.
   */
  pruneStep(before: number): StepResult {
    return this.pruneBatch.timed((n) =>
      this.db
        .transaction(() => {
          const first = this.db.prepare('SELECT started_at FROM rounds WHERE started_at < ? ORDER BY started_at LIMIT 1').pluck().get(before) as number | undefined;
          if (first === undefined) return { done: 0, more: false };
          const nth = this.db.prepare('SELECT started_at FROM rounds WHERE started_at < ? ORDER BY started_at LIMIT 1 OFFSET ?').pluck().get(before, n) as number | undefined;
          // Up to the hour of the (n+1)th round, at least one whole hour, at most `before`.
          const cutoff = nth === undefined ? before : Math.min(before, Math.max(slotOf(nth), slotOf(first) + 1) * SLOT_MS);
          const done = this.db.prepare('DELETE FROM rounds WHERE started_at < ?').run(cutoff).changes;
          // Hours wholly before the cutoff have no round left: their rollups go (the
          // trigger marked them pending; nothing is left to rebuild).
          const whole = Math.ceil(cutoff / SLOT_MS);
          this.db.prepare('DELETE FROM rollups WHERE slot < ?').run(whole);
          this.db.prepare('DELETE FROM rollup_pending WHERE slot < ?').run(whole);
          this.db.prepare('DELETE FROM rollup_sli_pending WHERE slot < ?').run(whole);
          // Days wholly before it go; the day it cuts is summed again from the hours left.
          this.db.prepare('DELETE FROM sli_days WHERE day < ?').run(Math.floor(whole / DAY_SLOTS));
          if (whole % DAY_SLOTS !== 0) this.refreshSliDays([Math.floor(whole / DAY_SLOTS)]);
          // A cutoff inside an hour (only ever `before`): what is left of it is rebuilt.
          if (cutoff % SLOT_MS !== 0) this.rebuildSlots([slotOf(cutoff)]);
          const more = this.db.prepare('SELECT 1 FROM rounds WHERE started_at < ? LIMIT 1').pluck().get(before) !== undefined;
          return { done, more };
        })
        .immediate(),
    );
  }

  /** Deletes every round that started before `before` (Unix ms), in steps. Returns how many. */
  prune(before: number): { rounds: number } {
    let rounds = 0;
    for (let i = 0; i < 10_000_000; i++) {
      const step = this.pruneStep(before);
      rounds += step.done;
      if (!step.more) break;
    }
    return { rounds };
  }

  roundCount(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM rounds').get() as { n: number }).n;
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

/** A verdict as a whole row (every verdict was one before schema version 3). */
export function verdictParams(roundId: string, position: number, s: ServiceResult): Record<string, unknown> {
  return {
    roundId,
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
    // The whole result (excerpts, expectations, auth checks) for what is not ok.
    result: s.verdict === 'ok' ? null : JSON.stringify(s),
    unexplainedUnits: s.unexplained?.units ?? null,
    // Only a finding is kept in full; "nothing moved" is the units column's 0.
    unexplained: s.unexplained && s.unexplained.units > 0 ? JSON.stringify(s.unexplained) : null,
  };
}
