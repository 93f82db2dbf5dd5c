// The exporter's maintenance windows (docs/maintenance.md): the config's recurring windows and the
// API's one-off windows (kept in the history file), which services they cover now, the results of
// those services in a round, and the gauge patrol_service_maintenance{service_id}.
import type { Logger } from 'pino';
import type { Config, ServiceConfig } from './config/schema.js';
import type { MaintenanceWindowConfig } from './config/maintenance.js';
import { activeWindows, configWindows, maintenanceResult, nextChange, type MaintenanceWindow } from './engine/maintenance.js';
import type { Redactor } from './redact.js';
import { esc } from './exposition.js';
import type { MaintenanceStore, NewWindow } from './store/maintenance.js';
import type { ServiceResult } from './types.js';
import { dateTime } from './util/time.js';

const GAUGE = 'patrol_service_maintenance';
const HEAD = `# HELP ${GAUGE} Whether the service is inside a maintenance window now (1) or not (0): it is then not inspected, and its last round's verdict is maintenance. Evaluated at every scrape, so a window's start and end show up between rounds.\n# TYPE ${GAUGE} gauge\n`;

/** A window as the API lists it: its times as ISO text too, and whether it is open now. */
export interface ListedWindow extends MaintenanceWindow {
  startIso: string;
  endIso: string;
  active: boolean;
}

export class Maintenance {
  private entries: MaintenanceWindowConfig[] = [];
  private timezone = 'UTC';
  /** The services the exporter inspects (enabled, in its shard), in config order. */
  private serviceIds: string[] = [];
  private configIds = new Set<string>();
  /** Which services are covered now, valid until `until` (the next start or end of a window) or a change. */
  private cached: { at: number; until: number; active: Map<string, MaintenanceWindow> } | null = null;

  constructor(
    private readonly store: MaintenanceStore,
    private readonly redactor: Redactor,
    private readonly logger: Logger,
    /** Called when a window is created or cancelled: the gauge changed now, not at a window's edge. */
    private readonly changed: () => void = () => undefined,
  ) {}

  /** The text of the gauge as last made, and the state it was made from. */
  private text: { active: Map<string, MaintenanceWindow>; serviceIds: string[]; body: Buffer } | null = null;

  /**
   * patrol_service_maintenance in the text format, for every inspected service at `now`. The same
   * Buffer while the covered services and the config stay as they were (the covered set is kept
   * until the next start or end of a window), so it is made once per change, not per scrape.
   */
  exposition(now: number): Buffer {
    const active = this.activeAt(now);
    const t = this.text;
    if (t && t.active === active && t.serviceIds === this.serviceIds) return t.body;
    const lines = [HEAD];
    for (const id of this.serviceIds) lines.push(`${GAUGE}{service_id="${esc(id)}"} ${active.has(id) ? 1 : 0}\n`);
    this.text = { active, serviceIds: this.serviceIds, body: Buffer.from(lines.join('')) };
    return this.text.body;
  }

  /** Follow the config (and the services this exporter inspects). */
  configure(config: Config, serviceIds: string[]): void {
    this.entries = config.maintenance;
    this.timezone = config.global.timezone;
    this.serviceIds = serviceIds;
    this.configIds = new Set(config.services.map((s) => s.id));
    this.cached = null;
  }

  /** When reading the windows last failed (then they are read again a minute later, not at every scrape). */
  private failedAt: number | null = null;

  /**
   * Every window not yet ended: each config entry's current or next occurrence, and the API's
   * windows. A part that cannot be read (the history file locked or unreadable) is left out and
   * logged: its services are then inspected, and a scrape never fails because of it.
   */
  windows(now: number): MaintenanceWindow[] {
    const read = (what: string, fn: () => MaintenanceWindow[]): MaintenanceWindow[] => {
      try {
        return fn();
      } catch (err) {
        this.failedAt = now;
        this.logger.error({ err: this.redactor.redact((err as Error).message) }, `could not read the ${what} maintenance windows; their services are inspected`);
        return [];
      }
    };
    this.failedAt = null;
    const all = [...read('config', () => configWindows(this.entries, this.timezone, now)), ...read('API', () => this.store.current(now))];
    return all.map((w) => ({ ...w, reason: this.redactor.redact(w.reason) }));
  }

  /** Per service id, the window covering it at `now`. */
  activeAt(now: number): Map<string, MaintenanceWindow> {
    const c = this.cached;
    if (c && now >= c.at && now < c.until) return c.active;
    const windows = this.windows(now);
    const active = activeWindows(windows, this.serviceIds, now);
    this.cached = { at: now, until: this.failedAt === null ? nextChange(windows, now) : Math.min(nextChange(windows, now), now + 60_000), active };
    return active;
  }

  /** The results of the services a window covers at `now` (they are not inspected this round). */
  results(services: ServiceConfig[], now: number): ServiceResult[] {
    const active = this.activeAt(now);
    if (active.size === 0) return [];
    const out: ServiceResult[] = [];
    for (const s of services) {
      const w = active.get(s.id);
      if (w) out.push(maintenanceResult(s, w, now, (x) => this.describe(x)));
    }
    return out;
  }

  /** The result's reason: until when, and why (redacted: a reason is free text). */
  describe(w: MaintenanceWindow): string {
    const until = `maintenance window until ${dateTime(this.timezone, w.end)} (${this.timezone})`;
    return this.redactor.redact(w.reason === '' ? until : `${until}: ${w.reason}`);
  }

  list(now: number): ListedWindow[] {
    return this.windows(now)
      .sort((a, b) => a.start - b.start || a.id.localeCompare(b.id))
      .map((w) => ({ ...w, startIso: new Date(w.start).toISOString(), endIso: new Date(w.end).toISOString(), active: w.start <= now && now < w.end }));
  }

  add(w: NewWindow, now: number): MaintenanceWindow {
    const added = this.store.add({ ...w, reason: this.redactor.redact(w.reason) }, now);
    this.cached = null;
    this.changed();
    return added;
  }

  cancel(id: string, now: number): boolean {
    const done = this.store.cancel(id, now);
    this.cached = null;
    this.changed();
    return done;
  }

  /** A service id of the config (the API refuses others). */
  knows(serviceId: string): boolean {
    return this.configIds.has(serviceId);
  }
}
