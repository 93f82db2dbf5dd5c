// The HTTP interface (DESIGN.md section 6). Rounds never run at scrape time: /metrics serves what the
// last round measured, rendered once and kept in memory.
import http from 'node:http';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Exporter } from '../exporter.js';
import type { PatrolMetrics } from '../metrics.js';
import type { RoundStore } from '../store/types.js';
import { statusPage } from './status.js';
import type { Redactor } from '../redact.js';
import { dayIn } from '../util/time.js';
import { requireAuth } from './auth.js';
import { servicePage } from './details.js';

export interface ServerDeps {
  exporter: Exporter;
  metrics: PatrolMetrics;
  store: RoundStore;
  logger: Logger;
  /** Applied to everything the pages show (results are redacted by the probes already). */
  redactor?: Redactor;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
/** Rounds in the status page's strip of recent verdicts. */
const RECENT_ROUNDS = 60;

export function createApp(deps: ServerDeps): express.Express {
  const { exporter, metrics, store } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // web.auth, read per request so a reload takes effect; /-/healthy stays open (src/web/auth.ts).
  app.use(requireAuth(() => exporter.config?.web));

  app.get('/metrics', async (req: Request, res: Response) => {
    const open = (req.get('accept') ?? '').includes('application/openmetrics-text');
    const gzip = /\bgzip\b/.test(req.get('accept-encoding') ?? '');
    res.type(open ? 'application/openmetrics-text; version=1.0.0; charset=utf-8' : 'text/plain; version=0.0.4; charset=utf-8');
    res.set('Vary', 'Accept, Accept-Encoding');
    if (gzip) res.set('Content-Encoding', 'gzip');
    res.send(await metrics.body(open, gzip));
  });
  app.get('/-/healthy', (_req, res) => {
    res.type('text/plain').send('Healthy.\n');
  });
  app.get('/-/ready', (_req, res) => {
    if (exporter.ready) res.type('text/plain').send('Ready.\n');
    else res.status(503).type('text/plain').send('Not ready: the configuration is not loaded.\n');
  });
  app.post('/-/reload', async (_req, res) => {
    const outcome = await exporter.reload();
    if (outcome.ok) res.type('text/plain').send('Reloaded.\n');
    else res.status(500).type('text/plain').send(`${outcome.error}\n`);
  });
  app.get('/api/rounds/latest', (_req, res) => {
    const latest = store.latest();
    if (!latest) res.status(404).json({ error: 'no round has finished yet' });
    else res.json(latest);
  });
  app.get('/api/rounds', (req, res) => {
    const date = String(req.query.date ?? '');
    if (!DAY.test(date)) {
      res.status(400).json({ error: 'date: expected YYYY-MM-DD' });
      return;
    }
    const timezone = exporter.config?.global.timezone ?? 'UTC';
    res.json({ date, timezone, rounds: store.byDay(date, timezone) });
  });
  app.post('/api/rounds', (_req, res) => {
    const round = exporter.runRound('api');
    if (!round) res.status(409).json({ error: 'a round is already running' });
    else res.status(202).json({ started: true });
  });
  const pageOptions = () => {
    const config = exporter.config;
    return { timezone: config?.global.timezone ?? 'UTC', locale: config?.digest.locale ?? 'zh', redact: deps.redactor ? (t: string) => deps.redactor!.redact(t) : undefined };
  };
  app.get('/', (_req, res) => {
    const opts = pageOptions();
    const day = dayIn(opts.timezone);
    const services = store.overview(day, opts.timezone, RECENT_ROUNDS);
    res.type('html').send(statusPage(store.latest(), exporter.progress, { ...opts, services }));
  });
  app.get('/services/:id', (req, res) => {
    const opts = pageOptions();
    const id = String(req.params.id);
    const entries = store.serviceHistory(id, 20);
    const known = exporter.config?.services.some((s) => s.id === id) ?? false;
    res.status(entries.length === 0 && !known ? 404 : 200).type('html').send(servicePage(id, entries, opts));
  });
  return app;
}

/** ":9798" listens on every interface, "127.0.0.1:0" on a free port of one. */
export function parseListenAddress(address: string): { host?: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address.trim());
  if (!m) throw new Error(`--web.listen-address: expected HOST:PORT or :PORT, got "${address}"`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`--web.listen-address: port ${port} is out of range`);
  const host = m[1] ?? m[2];
  return { host: host === '' ? undefined : host, port };
}

export async function listen(app: express.Express, address: string): Promise<{ server: http.Server; url: string; port: number }> {
  const { host, port } = parseListenAddress(address);
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as { address: string; port: number };
  const shown = !host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return { server, url: `http://${shown}:${addr.port}`, port: addr.port };
}
