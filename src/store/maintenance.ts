// Maintenance windows created through the API (POST /api/maintenance), kept in the history file so
// that a restart keeps them (docs/maintenance.md). The table is created if missing, whatever the
// history's schema version, so an existing history file gains it on first use and an older
// patrol_exporter opening the file later simply ignores it. A window is never deleted by a cancel:
// it is marked cancelled (when, by the API), and windows that ended long ago are pruned.
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { MaintenanceWindow } from '../engine/maintenance.js';
import type { RoundStore } from './types.js';

/** API windows that ended longer ago than this are deleted when a window is added. */
const KEEP_ENDED_MS = 30 * 86_400_000;
/** Open and future API windows at once: a bound on what each round evaluates. */
export const MAX_API_WINDOWS = 1000;

export interface NewWindow {
  services: 'all' | string[];
  start: number;
  end: number;
  reason: string;
}

export interface MaintenanceStore {
  /** Adds a window; throws when MAX_API_WINDOWS are already open or planned. */
  add(w: NewWindow, now: number): MaintenanceWindow;
  /** Windows not cancelled that have not ended by `now`, earliest start first. */
  current(now: number): MaintenanceWindow[];
  /** Cancels a window: true when it existed and was not cancelled yet. */
  cancel(id: string, now: number): boolean;
}

export class MaintenanceLimitError extends Error {}

/** In memory: for `:memory:` histories and the in-memory store (run-once, tests). */
export class MemoryMaintenance implements MaintenanceStore {
  private readonly windows = new Map<string, MaintenanceWindow>();

  add(w: NewWindow, now: number): MaintenanceWindow {
    if (this.current(now).length >= MAX_API_WINDOWS) throw new MaintenanceLimitError(`at most ${MAX_API_WINDOWS} open or planned maintenance windows`);
    const window: MaintenanceWindow = { id: randomUUID(), source: 'api', services: w.services, start: w.start, end: w.end, reason: w.reason, createdAt: now };
    this.windows.set(window.id, window);
    return window;
  }

  current(now: number): MaintenanceWindow[] {
    return [...this.windows.values()].filter((w) => w.end > now).sort((a, b) => a.start - b.start);
  }

  cancel(id: string): boolean {
    return this.windows.delete(id);
  }
}

interface Row {
  id: string;
  services: string;
  start_at: number;
  end_at: number;
  reason: string;
  created_at: number;
}

export class SqliteMaintenance implements MaintenanceStore {
  constructor(private readonly db: Database.Database) {
    db.exec(`
      -- Maintenance windows created through the API (docs/maintenance.md); config windows are not stored.
      CREATE TABLE IF NOT EXISTS maintenance_windows (
        id           TEXT PRIMARY KEY,
        services     TEXT NOT NULL,     -- JSON: "all" or a list of service ids
        start_at     INTEGER NOT NULL,  -- Unix ms, inclusive
        end_at       INTEGER NOT NULL,  -- Unix ms, exclusive
        reason       TEXT NOT NULL,     -- already redacted
        created_at   INTEGER NOT NULL,
        cancelled_at INTEGER
      );
      CREATE INDEX IF NOT EXISTS maintenance_windows_end ON maintenance_windows (end_at);
    `);
  }

  add(w: NewWindow, now: number): MaintenanceWindow {
    const window: MaintenanceWindow = { id: randomUUID(), source: 'api', services: w.services, start: w.start, end: w.end, reason: w.reason, createdAt: now };
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM maintenance_windows WHERE end_at < ?').run(now - KEEP_ENDED_MS);
      const open = this.db.prepare('SELECT count(*) FROM maintenance_windows WHERE end_at > ? AND cancelled_at IS NULL').pluck().get(now) as number;
      if (open >= MAX_API_WINDOWS) throw new MaintenanceLimitError(`at most ${MAX_API_WINDOWS} open or planned maintenance windows`);
      this.db
        .prepare('INSERT INTO maintenance_windows (id, services, start_at, end_at, reason, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(window.id, JSON.stringify(w.services), w.start, w.end, w.reason, now);
    }).immediate();
    return window;
  }

  current(now: number): MaintenanceWindow[] {
    const rows = this.db
      .prepare('SELECT id, services, start_at, end_at, reason, created_at FROM maintenance_windows WHERE end_at > ? AND cancelled_at IS NULL ORDER BY start_at, id')
      .all(now) as Row[];
    return rows.map((r) => ({ id: r.id, source: 'api', services: JSON.parse(r.services) as 'all' | string[], start: r.start_at, end: r.end_at, reason: r.reason, createdAt: r.created_at }));
  }

  cancel(id: string, now: number): boolean {
    return this.db.prepare('UPDATE maintenance_windows SET cancelled_at = ? WHERE id = ? AND cancelled_at IS NULL').run(now, id).changes > 0;
  }
}

/**
 * The API windows' store for a round store: in its SQLite file when it has one, in memory otherwise
 * (and, logged, when the file cannot take the table: a read-only history still lets the exporter run).
 */
export function maintenanceStoreOf(store: RoundStore, logger?: Logger): MaintenanceStore {
  const db = (store as { db?: unknown }).db;
  if (!db) return new MemoryMaintenance();
  try {
    return new SqliteMaintenance(db as Database.Database);
  } catch (err) {
    logger?.error({ err: (err as Error).message }, 'cannot keep maintenance windows in the history file; API windows last until the exporter stops');
    return new MemoryMaintenance();
  }
}
