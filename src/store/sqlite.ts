// History in SQLite (better-sqlite3, WAL): every round, every service verdict with its readings and
// timings, and the digest outbox. One transaction per round, so a crash (even kill -9) loses at most
// the round being written and never leaves half a round or a corrupt file. The schema is versioned
// with PRAGMA user_version; each migration runs in its own transaction.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { dayIn, dayRange } from '../digest/time.js';
import type { RoundResult, ServiceResult } from '../types.js';
import type { RoundStore } from './types.js';

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

/** Per service: today's rounds and successes, and its verdicts in the most recent rounds (oldest first). */
export interface ServiceOverview {
  serviceId: string;
  name: string;
  roundsToday: number;
  okToday: number;
  recent: { at: number; verdict: ServiceResult['verdict'] }[];
}

/** One service's verdict in one round, as the details page and the digest read it. */
export interface ServiceHistoryEntry {
  roundId: string;
  roundStartedAt: number;
  result: ServiceResult;
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

      -- One row per service per round. The columns are for queries and people reading the file;
      -- "result" is the whole ServiceResult, so the pages and the API can show everything.
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
        call_seconds    TEXT NOT NULL,      -- JSON: [{"call": name, "seconds": s}]
        call_reasons    TEXT NOT NULL,      -- JSON: [{"call": name, "reason": why}] of the failed calls
        result          TEXT NOT NULL,      -- JSON: the ServiceResult
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

export class SqliteStore implements RoundStore {
  readonly db: DB;
  readonly file: string;
  private closed = false;
  private readonly insertRound: Database.Statement;
  private readonly insertVerdict: Database.Statement;
  private readonly saveTx: (round: RoundResult) => void;

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
      // FULL: a committed round survives a power cut too; one fsync per round is nothing.
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = ON');
      this.migrate();
    } catch (err) {
      this.db.close();
      if (err instanceof StoreError) throw err;
      throw new StoreError(`cannot prepare the history file ${file}: ${(err as Error).message}`, { cause: err });
    }
    this.insertRound = this.db.prepare(
      `INSERT OR REPLACE INTO rounds (id, trigger, started_at, finished_at, duration_seconds, aborted, service_count, failed_count)
       VALUES (@id, @trigger, @startedAt, @finishedAt, @durationSeconds, @aborted, @serviceCount, @failedCount)`,
    );
    this.insertVerdict = this.db.prepare(
      `INSERT INTO verdicts (round_id, position, service_id, name, app_id, verdict, reason, started_at, finished_at,
         before_value, before_error, after_value, after_error, delta, expected_delta, metering_mode, metering_ok,
         call_ok, auth_ok, count_query_ok, settle_seconds, call_seconds, call_reasons, result)
       VALUES (@roundId, @position, @serviceId, @name, @appId, @verdict, @reason, @startedAt, @finishedAt,
         @beforeValue, @beforeError, @afterValue, @afterError, @delta, @expectedDelta, @meteringMode, @meteringOk,
         @callOk, @authOk, @countQueryOk, @settleSeconds, @callSeconds, @callReasons, @result)`,
    );
    this.saveTx = this.db.transaction((round: RoundResult) => {
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
      });
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
          callSeconds: JSON.stringify(s.calls.map((c) => ({ call: c.name, seconds: c.durationSeconds }))),
          callReasons: JSON.stringify(s.calls.filter((c) => !c.ok).map((c) => ({ call: c.name, reason: c.reason }))),
          result: JSON.stringify(s),
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
    this.saveTx(round);
  }

  private roundsWhere(where: string, params: unknown[], order: 'ASC' | 'DESC', limit?: number): RoundResult[] {
    const rows = this.db
      .prepare(`SELECT id, trigger, started_at, finished_at, duration_seconds, aborted FROM rounds ${where} ORDER BY started_at ${order}, id ${order}${limit !== undefined ? ' LIMIT ?' : ''}`)
      .all(...params, ...(limit !== undefined ? [limit] : [])) as { id: string; trigger: RoundResult['trigger']; started_at: number; finished_at: number; duration_seconds: number; aborted: number }[];
    if (rows.length === 0) return [];
    const byRound = new Map<string, ServiceResult[]>();
    const verdicts = this.db.prepare('SELECT result FROM verdicts WHERE round_id = ? ORDER BY position');
    for (const r of rows) byRound.set(r.id, (verdicts.all(r.id) as { result: string }[]).map((v) => JSON.parse(v.result) as ServiceResult));
    return rows.map((r) => ({
      id: r.id,
      trigger: r.trigger,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      durationSeconds: r.duration_seconds,
      aborted: r.aborted === 1,
      services: byRound.get(r.id) ?? [],
    }));
  }

  latest(): RoundResult | null {
    return this.roundsWhere('', [], 'DESC', 1)[0] ?? null;
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
        `SELECT v.round_id, r.started_at, v.result FROM verdicts v JOIN rounds r ON r.id = v.round_id
         WHERE v.service_id = ? ORDER BY v.started_at DESC, r.started_at DESC LIMIT ?`,
      )
      .all(serviceId, limit) as { round_id: string; started_at: number; result: string }[];
    return rows.map((r) => ({ roundId: r.round_id, roundStartedAt: r.started_at, result: JSON.parse(r.result) as ServiceResult }));
  }

  /**
   * The status page's per-service figures, from the indexed columns (no JSON parsed), so the page
   * stays cheap with thousands of services. Services are in the latest round's order.
   */
  overview(day: string, timezone: string, recentRounds: number): ServiceOverview[] {
    const { start, end } = dayRange(day, timezone);
    const out = new Map<string, ServiceOverview>();
    const entry = (id: string, name: string) => {
      let o = out.get(id);
      if (!o) {
        o = { serviceId: id, name, roundsToday: 0, okToday: 0, recent: [] };
        out.set(id, o);
      }
      return o;
    };
    const latest = this.db.prepare('SELECT id FROM rounds ORDER BY started_at DESC, id DESC LIMIT 1').get() as { id: string } | undefined;
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
    return [...out.values()];
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

  integrityCheck(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
