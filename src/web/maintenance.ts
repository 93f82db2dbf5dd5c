// The maintenance API (docs/maintenance.md): list the windows (viewer), create one and cancel one
// (admin). Bad input is a 400 naming the field; the reason is redacted before it is kept or shown.
import type { Request, Response } from 'express';
import type { ListedWindow, Maintenance } from '../maintenance.js';
import type { Labels } from '../present/labels.js';
import { dateTime } from '../util/time.js';
import type { Access } from './auth.js';
import { MaintenanceLimitError } from '../store/maintenance.js';

/** Bodies are small JSON objects: anything larger is refused before it is parsed. */
const MAX_BODY_BYTES = 16 * 1024;
/** An API window is planned at most a year ahead and lasts at most 31 days. */
const MAX_AHEAD_MS = 366 * 86_400_000;
const MAX_LENGTH_MS = 31 * 86_400_000;
const REASON_MAX = 500;
const MAX_SERVICES = 10_000;
/** RFC 3339 with an explicit offset: a time without one would depend on the server's timezone. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

interface MaintenanceRoute {
  method: 'get' | 'post' | 'delete';
  path: string;
  access: Access;
  handler: (req: Request, res: Response) => void | Promise<void>;
}

export interface MaintenanceDeps {
  maintenance: () => Maintenance | null;
  timezone: () => string;
  sendJson: (res: Response, value: unknown, status?: number) => void;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** The request body as JSON, read up to MAX_BODY_BYTES (express.json would also do; this keeps the limit and the message here). */
async function readJson(req: Request): Promise<Parsed<unknown>> {
  const type = req.get('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) return { ok: false, error: 'body: send JSON (Content-Type: application/json)' };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return { ok: false, error: `body: larger than ${MAX_BODY_BYTES} bytes` };
    chunks.push(chunk);
  }
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  } catch {
    return { ok: false, error: 'body: not valid JSON' };
  }
}

function parseTime(field: string, v: unknown): Parsed<number> {
  if (typeof v !== 'string' || !RFC3339.test(v)) return { ok: false, error: `${field}: expected a time as RFC 3339 with an offset, e.g. 2026-01-31T02:00:00+08:00` };
  const at = Date.parse(v);
  if (!Number.isFinite(at)) return { ok: false, error: `${field}: not a valid time` };
  return { ok: true, value: at };
}

export interface WindowRequest {
  services: 'all' | string[];
  start: number;
  end: number;
  reason: string;
}

/** Checks a POST body: every field, with the first problem named by its field. */
export function parseWindowRequest(body: unknown, now: number, knows: (serviceId: string) => boolean): Parsed<WindowRequest> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, error: 'body: expected a JSON object with services, end, and optionally start and reason' };
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) if (!['services', 'start', 'end', 'reason'].includes(key)) return { ok: false, error: `${key}: unknown field (expected services, start, end, reason)` };
  let services: 'all' | string[];
  if (b.services === 'all') services = 'all';
  else if (Array.isArray(b.services) && b.services.length > 0 && b.services.length <= MAX_SERVICES) {
    services = [];
    for (const [i, id] of b.services.entries()) {
      if (typeof id !== 'string' || id === '') return { ok: false, error: `services[${i}]: expected a service id` };
      // The id is not echoed: it may be anything the caller sent.
      if (!knows(id)) return { ok: false, error: `services[${i}]: unknown service (not in the config)` };
      if (!services.includes(id)) services.push(id);
    }
  } else return { ok: false, error: `services: expected "all" or a list of 1 to ${MAX_SERVICES} service ids` };
  const start = b.start === undefined ? { ok: true as const, value: now } : parseTime('start', b.start);
  if (!start.ok) return start;
  const end = parseTime('end', b.end);
  if (!end.ok) return end;
  if (end.value <= start.value) return { ok: false, error: 'end: must be after start' };
  if (end.value <= now) return { ok: false, error: 'end: already past' };
  if (start.value > now + MAX_AHEAD_MS) return { ok: false, error: 'start: at most a year ahead' };
  if (end.value - start.value > MAX_LENGTH_MS) return { ok: false, error: 'end: a window lasts at most 31 days' };
  if (b.reason !== undefined && typeof b.reason !== 'string') return { ok: false, error: 'reason: expected text' };
  const reason = (b.reason as string | undefined) ?? '';
  if (reason.length > REASON_MAX) return { ok: false, error: `reason: at most ${REASON_MAX} characters` };
  return { ok: true, value: { services, start: start.value, end: end.value, reason } };
}

export function maintenanceRoutes(deps: MaintenanceDeps): MaintenanceRoute[] {
  const notReady = (res: Response) => void res.status(503).json({ error: 'the configuration is not loaded' });
  return [
    {
      method: 'get',
      path: '/api/maintenance',
      access: 'viewer',
      handler: (_req, res) => {
        const m = deps.maintenance();
        if (!m) return notReady(res);
        const now = Date.now();
        deps.sendJson(res, { now: new Date(now).toISOString(), timezone: deps.timezone(), windows: m.list(now) });
      },
    },
    {
      method: 'post',
      path: '/api/maintenance',
      access: 'admin',
      handler: async (req, res) => {
        const m = deps.maintenance();
        if (!m) return notReady(res);
        const body = await readJson(req);
        if (!body.ok) return void res.status(400).json({ error: body.error });
        const now = Date.now();
        const parsed = parseWindowRequest(body.value, now, (id) => m.knows(id));
        if (!parsed.ok) return void res.status(400).json({ error: parsed.error });
        try {
          const w = m.add(parsed.value, now);
          deps.sendJson(res, { ...w, startIso: new Date(w.start).toISOString(), endIso: new Date(w.end).toISOString(), active: w.start <= now && now < w.end }, 201);
        } catch (err) {
          if (err instanceof MaintenanceLimitError) return void res.status(409).json({ error: err.message });
          throw err;
        }
      },
    },
    {
      method: 'delete',
      path: '/api/maintenance/:id',
      access: 'admin',
      handler: (req, res) => {
        const m = deps.maintenance();
        if (!m) return notReady(res);
        const id = String(req.params.id);
        if (id.startsWith('config:')) return void res.status(409).json({ error: 'id: a window from the config file; change the file (maintenance:) and reload' });
        if (!m.cancel(id, Date.now())) return void res.status(404).json({ error: 'id: no such window (or already cancelled)' });
        res.status(204).end();
      },
    },
  ];
}

/** Windows shown on the status page at most (the API lists them all). */
const PAGE_WINDOWS = 20;

/**
 * The status page's list of maintenance windows, open ones first (empty when there are none).
 * `e` escapes (and redacts) a value for HTML.
 */
export function windowsSection(windows: ListedWindow[], l: Labels, timezone: string, e: (v: unknown) => string): string {
  if (windows.length === 0) return '';
  const shown = [...windows].sort((a, b) => Number(b.active) - Number(a.active) || a.start - b.start).slice(0, PAGE_WINDOWS);
  const rows = shown
    .map((w) => {
      const services = w.services === 'all' ? l.windows.all : w.services.join(', ');
      return `<tr class="${w.active ? 'other' : ''}" data-window="${e(w.id)}" data-active="${w.active}"><td>${e(services)}</td><td>${e(dateTime(timezone, w.start))}${w.active ? ` <b>(${e(l.windows.now)})</b>` : ''}</td><td>${e(dateTime(timezone, w.end))}</td><td class="long"><div>${e(w.reason)}</div></td></tr>`;
    })
    .join('\n');
  const head = [l.colName, l.windows.colStart, l.windows.colEnd, l.page.colReason].map((h) => `<th>${e(h)}</th>`).join('');
  const more = windows.length > shown.length ? `<p class="muted">${e(l.windows.more(windows.length - shown.length))}</p>` : '';
  return `<h2>${e(l.windows.title)} <small>(${e(timezone)})</small></h2>\n<table class="maintenance"><thead><tr>${head}</tr></thead>\n<tbody>\n${rows}\n</tbody></table>${more}`;
}
