// The HTTP interface (DESIGN.md section 6). Rounds never run at scrape time: /metrics serves what the
// last round measured, rendered once and kept in memory.
import http from 'node:http';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Exporter } from '../exporter.js';
import type { PatrolMetrics } from '../metrics.js';
import type { RoundStore } from '../store/types.js';
import { statusPage } from './status.js';

export interface ServerDeps {
  exporter: Exporter;
  metrics: PatrolMetrics;
  store: RoundStore;
  logger: Logger;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

export function createApp(deps: ServerDeps): express.Express {
  const { exporter, metrics, store } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/metrics', async (req: Request, res: Response) => {
    const open = (req.get('accept') ?? '').includes('application/openmetrics-text');
    res.type(open ? 'application/openmetrics-text; version=1.0.0; charset=utf-8' : 'text/plain; version=0.0.4; charset=utf-8');
    res.send(await metrics.exposition(open));
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
  app.get('/', (_req, res) => {
    res.type('html').send(statusPage(store.latest(), exporter.progress));
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
