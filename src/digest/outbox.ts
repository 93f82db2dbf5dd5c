// The outbox: emails waiting for delivery, in the history file, so a digest that cannot be sent
// (SMTP down, the process killed during the retries) survives restarts and is retried until it is
// delivered. The table is part of the history file's schema (store/sqlite.ts migrations); this
// module is the only one that reads or writes it.
import type Database from 'better-sqlite3';

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

export class Outbox {
  /** `db`: the history file's connection (SqliteStore.db). */
  constructor(private readonly db: Database.Database) {}

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
    return this.db.prepare("SELECT count(*) FROM outbox WHERE status = 'pending'").pluck().get() as number;
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

  /** Deletes delivered emails created before `before` (Unix ms). Pending emails are never deleted. */
  prune(before: number): number {
    return this.db.prepare("DELETE FROM outbox WHERE status = 'sent' AND created_at < ?").run(before).changes;
  }
}
