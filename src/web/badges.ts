// Badges (README "Badges"): GET /badges/:id.svg, the service's last verdict, and
// GET /badges/:id/uptime.svg?window=7d, the share of its judged rounds that were ok over the window,
// from the history. The routes and their access level are declared in server.ts with the pages'.
//
// Cacheable: an ETag (a hash of the SVG) and, for the last verdict, Last-Modified (when it was
// judged), so a wiki or an image proxy revalidates with a 304. Cache-Control is `public` only when
// the endpoints are open; with credentials configured a badge is `private` (no shared cache may keep
// what a viewer was allowed to see).
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { badgeSvg, uptimeColour, uptimeText, verdictColour, NO_DATA_COLOUR } from '../present/badge.js';
import { labelsFor, type Locale } from '../present/labels.js';
import { sloLabelsFor } from '../present/slo-labels.js';
import type { RoundStore } from '../store/types.js';
import { VERDICT_OUTCOME, type Verdict } from '../types.js';
import { parseDuration } from '../util/duration.js';

/** How long a client may use a badge without asking again: about a round at the default schedule. */
const MAX_AGE_SECONDS = 60;
const WINDOW_MIN_MS = 3_600_000;
const WINDOW_MAX_MS = 90 * 86_400_000;

export interface BadgeDeps {
  store: Pick<RoundStore, 'serviceHistory' | 'serviceVerdicts'>;
  /** The configured services (id and name) and the locale of the labels. */
  services: () => { id: string; name?: string }[];
  locale: () => Locale;
  /** True when the endpoints need credentials (a badge is then `private`). */
  protectedEndpoints: () => boolean;
  /** Applied to every text drawn (a name could hold a secret the config resolved). */
  redact?: (text: string) => string;
  now?: () => number;
}

/** `?window=`: a duration from 1h to 90d (7d when absent), or why not. */
export function parseWindow(value: unknown): { ok: true; ms: number; text: string } | { ok: false; error: string } {
  if (value === undefined) return { ok: true, ms: 7 * 86_400_000, text: '7d' };
  const text = typeof value === 'string' ? value : '';
  const ms = /^\d+(\.\d+)?(m|h|d)$/.test(text) ? parseDuration(text) : 'not a duration';
  if (typeof ms === 'string' || ms < WINDOW_MIN_MS || ms > WINDOW_MAX_MS) {
    return { ok: false, error: `window: expected one duration from 1h to 90d such as 24h, 7d or 30d, got "${String(Array.isArray(value) ? value.join(',') : text).slice(0, 40)}"` };
  }
  return { ok: true, ms, text };
}

/** The share of judged verdicts that were ok (indeterminate and the like are not judged), or null. */
export function uptimeOf(verdicts: Partial<Record<Verdict, number>>): number | null {
  let judged = 0;
  for (const [v, n] of Object.entries(verdicts) as [Verdict, number][]) if (VERDICT_OUTCOME[v] !== 'other') judged += n;
  return judged === 0 ? null : (verdicts.ok ?? 0) / judged;
}

export function badgeHandlers(deps: BadgeDeps) {
  const now = deps.now ?? Date.now;
  const redact = deps.redact ?? ((t: string) => t);

  /** The service named in the path, or a 404 sent (unknown to the config and to the history). */
  const serviceOf = (req: Request, res: Response): { id: string; name: string } | null => {
    const id = String(req.params.id);
    const configured = deps.services().find((s) => s.id === id);
    const last = deps.store.serviceHistory(id, 1)[0];
    if (!configured && !last) {
      res.status(404).set('Cache-Control', 'no-store').type('text/plain').send('Not found: no such service.\n');
      return null;
    }
    return { id, name: configured ? (configured.name ?? configured.id) : last.result.name };
  };

  const send = (req: Request, res: Response, svg: string, lastModified?: number) => {
    res.set('Cache-Control', `${deps.protectedEndpoints() ? 'private' : 'public'}, max-age=${MAX_AGE_SECONDS}`);
    res.set('ETag', `"${createHash('sha256').update(svg).digest('base64url').slice(0, 27)}"`);
    if (lastModified !== undefined) res.set('Last-Modified', new Date(lastModified).toUTCString());
    // An SVG opened on its own is a document: nothing in it may run or load anything.
    res.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
    res.set('X-Content-Type-Options', 'nosniff');
    if (req.fresh) {
      res.status(304).end();
      return;
    }
    res.type('image/svg+xml; charset=utf-8').send(svg);
  };

  return {
    /** GET /badges/:id.svg */
    verdict(req: Request, res: Response): void {
      const service = serviceOf(req, res);
      if (!service) return;
      const locale = deps.locale();
      const last = deps.store.serviceHistory(service.id, 1)[0];
      const verdict = last ? last.result.verdict : null;
      const message = verdict ? labelsFor(locale).verdicts[verdict] : sloLabelsFor(locale).noData;
      const svg = badgeSvg(redact(service.name), redact(message), verdictColour(verdict));
      send(req, res, svg, last ? Math.floor(last.result.finishedAt / 1000) * 1000 : undefined);
    },
    /** GET /badges/:id/uptime.svg?window=7d */
    uptime(req: Request, res: Response): void {
      const window = parseWindow(req.query.window);
      if (!window.ok) {
        res.status(400).set('Cache-Control', 'no-store').type('text/plain').send(`${window.error}\n`);
        return;
      }
      const service = serviceOf(req, res);
      if (!service) return;
      const l = sloLabelsFor(deps.locale());
      const t = now();
      const ratio = uptimeOf(deps.store.serviceVerdicts(service.id, t - window.ms, t + 1));
      const svg = badgeSvg(`${redact(service.name)} ${l.badgeUptime(window.text)}`, ratio === null ? l.noData : uptimeText(ratio), ratio === null ? NO_DATA_COLOUR : uptimeColour(ratio));
      send(req, res, svg);
    },
  };
}
