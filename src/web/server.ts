// The HTTP interface (the endpoint table in README.md "Running it on your platform"; access in
// docs/security.md). Rounds never run at scrape time: /metrics serves what the last round measured,
// rendered once and kept in memory.
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Exporter } from '../exporter.js';
import type { PatrolMetrics } from '../metrics.js';
import type { RoundStore } from '../store/types.js';
import { statusPage } from './status.js';
import type { Redactor } from '../redact.js';
import { dayIn } from '../util/time.js';
import { guard, type Access, type Credentials } from './auth.js';
import { wantsGzip, wantsOpenMetrics } from './negotiate.js';
import type { TlsSettings, WebConfigFile } from './webconfig.js';
import { servicePage } from './details.js';
import { maintenanceRoutes } from './maintenance.js';
import { badgeHandlers } from './badges.js';

export interface ServerDeps {
  exporter: Exporter;
  metrics: PatrolMetrics;
  store: RoundStore;
  logger: Logger;
  /** Applied to everything the pages show (results are redacted by the probes already). */
  redactor?: Redactor;
  /** --web.telemetry-path (default /metrics). */
  telemetryPath?: string;
  /** --web.config.file: basic_auth_users and response headers (TLS is for listen()). */
  webConfig?: WebConfigFile;
  /** The clock that says which day the status page shows (default Date.now; tests fix it). */
  now?: () => number;
}

/** One endpoint: its method, its path, who may use it (src/web/auth.ts), and what it does. */
export interface Route {
  method: 'get' | 'post' | 'delete';
  path: string;
  access: Access;
  handler: (req: Request, res: Response) => void | Promise<void>;
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
/** Rounds in the status page's strip of recent verdicts. */
const RECENT_ROUNDS = 60;

/** A calendar day that exists ("2024-02-30" does not). */
export function isDay(text: string): boolean {
  const m = DAY.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

/** --web.telemetry-path: an absolute path of plain characters, not one the other endpoints use. */
export function checkTelemetryPath(p: string): string | null {
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(p) || p.includes('//')) return `--web.telemetry-path: expected a path such as /metrics (letters, digits, . _ ~ - /), got "${p}"`;
  if (p === '/' || p.startsWith('/-/') || p === '/api' || p.startsWith('/api/') || p.startsWith('/services') || p.startsWith('/badges')) return `--web.telemetry-path: "${p}" is taken by another endpoint`;
  return null;
}

/** Every endpoint, each with its access level: the one place that says who may do what. */
export function routes(deps: ServerDeps): Route[] {
  const { exporter, metrics, store } = deps;
  const telemetryPath = deps.telemetryPath ?? '/metrics';
  const pageOptions = () => {
    const config = exporter.config;
    return { timezone: config?.global.timezone ?? 'UTC', locale: config?.digest.locale ?? 'zh', telemetryPath, redact: deps.redactor ? (t: string) => deps.redactor!.redact(t) : undefined };
  };
  // The API redacts what it serves as the pages do: a stored result may predate a secret in the config.
  const sendJson = (res: Response, value: unknown) => {
    const text = JSON.stringify(value);
    res.type('application/json').send(deps.redactor ? deps.redactor.redact(text) : text);
  };
  const badges = badgeHandlers({
    store,
    services: () => exporter.config?.services ?? [],
    locale: () => exporter.config?.digest.locale ?? 'zh',
    protectedEndpoints: () => !!exporter.config?.web.auth.bearer_token || !!exporter.config?.web.auth.basic || !!deps.webConfig?.active,
    redact: deps.redactor ? (t: string) => deps.redactor!.redact(t) : undefined,
  });
  return [
    {
      method: 'get',
      path: telemetryPath,
      access: 'scrape',
      handler: async (req, res) => {
        const open = wantsOpenMetrics(req.get('accept'));
        const gzip = wantsGzip(req.get('accept-encoding'));
        res.type(open ? 'application/openmetrics-text; version=1.0.0; charset=utf-8' : 'text/plain; version=0.0.4; charset=utf-8');
        res.set('Vary', 'Accept, Accept-Encoding');
        if (gzip) res.set('Content-Encoding', 'gzip');
        res.send(await metrics.body(open, gzip));
      },
    },
    { method: 'get', path: '/-/healthy', access: 'public', handler: (_req, res) => void res.type('text/plain').send('Healthy.\n') },
    {
      method: 'get',
      path: '/-/ready',
      access: 'viewer',
      handler: (_req, res) => {
        if (exporter.ready) res.type('text/plain').send('Ready.\n');
        else res.status(503).type('text/plain').send('Not ready: the configuration is not loaded.\n');
      },
    },
    {
      method: 'post',
      path: '/-/reload',
      access: 'admin',
      handler: async (_req, res) => {
        const outcome = await exporter.reload();
        if (outcome.ok) res.type('text/plain').send('Reloaded.\n');
        else res.status(500).type('text/plain').send(`${outcome.error}\n`);
      },
    },
    {
      method: 'get',
      path: '/api/rounds/latest',
      access: 'viewer',
      handler: (_req, res) => {
        const latest = store.latest();
        if (!latest) res.status(404).json({ error: 'no round has finished yet' });
        else sendJson(res, latest);
      },
    },
    {
      method: 'get',
      path: '/api/rounds',
      access: 'viewer',
      handler: (req, res) => {
        const date = typeof req.query.date === 'string' ? req.query.date : '';
        if (!isDay(date)) {
          res.status(400).json({ error: 'date: expected a calendar day as YYYY-MM-DD' });
          return;
        }
        const timezone = exporter.config?.global.timezone ?? 'UTC';
        sendJson(res, { date, timezone, rounds: store.byDay(date, timezone) });
      },
    },
    {
      method: 'post',
      path: '/api/rounds',
      access: 'admin',
      handler: (_req, res) => {
        const round = exporter.runRound('api');
        if (!round) res.status(409).json({ error: 'a round is already running' });
        else res.status(202).json({ started: true });
      },
    },
    {
      method: 'get',
      path: '/',
      access: 'viewer',
      handler: (_req, res) => {
        const opts = pageOptions();
        const now = (deps.now ?? Date.now)();
        const day = dayIn(opts.timezone, now);
        const services = store.overview(day, opts.timezone, RECENT_ROUNDS);
        const maintenance = exporter.ready ? exporter.maintenance.list(now) : [];
        res.type('html').send(statusPage(store.latest(), exporter.progress, { ...opts, services, now, maintenance }));
      },
    },
    {
      method: 'get',
      path: '/services/:id',
      access: 'viewer',
      handler: (req, res) => {
        const opts = pageOptions();
        const id = String(req.params.id);
        const entries = store.serviceHistory(id, 20);
        const known = exporter.config?.services.some((s) => s.id === id) ?? false;
        res.status(entries.length === 0 && !known ? 404 : 200).type('html').send(servicePage(id, entries, opts));
      },
    },
    // GET (viewer), POST and DELETE (admin) /api/maintenance: maintenance windows (docs/maintenance.md).
    ...maintenanceRoutes({
      maintenance: () => (exporter.ready ? exporter.maintenance : null),
      timezone: () => exporter.config?.global.timezone ?? 'UTC',
      sendJson: (res, value, status = 200) => sendJson(res.status(status), value),
    }),
    // Badges for READMEs and wikis (web/badges.ts): read-only views of the history, as the pages are.
    { method: 'get', path: '/badges/:id.svg', access: 'viewer', handler: (req, res) => badges.verdict(req, res) },
    { method: 'get', path: '/badges/:id/uptime.svg', access: 'viewer', handler: (req, res) => badges.uptime(req, res) },
  ];
}

export function createApp(deps: ServerDeps): express.Express {
  const { exporter, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // One spelling per path: "/API/ROUNDS" and "/api/rounds/" are not routes (404), so a route is
  // reached only by the path it was declared with, and its guard is the only rule that applies.
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  // The credentials are read per request, so a reload of the config or of the web config file applies.
  const creds = (): Credentials => ({ web: exporter.config?.web, users: deps.webConfig });
  app.use((_req, res, next) => {
    // A changed web config file applies from this request on (a few stat calls when nothing changed).
    deps.webConfig?.refresh();
    const headers = deps.webConfig?.current.headers;
    if (headers) res.set(headers);
    next();
  });
  for (const r of routes(deps)) app[r.method](r.path, guard(r.access, creds), r.handler);
  // Anything else: the credentials of a viewer first, so a stranger learns nothing about what exists.
  app.use(guard('viewer', creds), (_req: Request, res: Response) => {
    res.status(404).type('text/plain').send('Not found.\n');
  });
  // Every error ends here: a short message for the client, the details (stack, paths) in the log.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500;
    const client = status >= 400 && status < 500;
    logger.warn({ err, method: req.method, url: req.originalUrl.slice(0, 200), status }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(client ? status : 500).type('text/plain').send(client ? 'Bad request.\n' : 'Internal error; see the exporter\'s log.\n');
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

/** What the TLS server is given for these settings (client certificates asked for unless NoClientCert). */
function serverOptions(t: TlsSettings): https.ServerOptions {
  return { ...t.context, requestCert: t.clientAuth !== 'NoClientCert', rejectUnauthorized: t.clientAuth === 'RequireAndVerifyClientCert' };
}

/** The checks OpenSSL does not make for a client_auth_type; a failing connection is closed. */
function clientCertRefusal(t: TlsSettings, socket: TLSSocket): string | null {
  const cert = socket.getPeerCertificate();
  const present = cert !== null && Object.keys(cert).length > 0;
  if (t.clientAuth === 'RequireAnyClientCert' && !present) return 'no client certificate';
  if ((t.clientAuth === 'VerifyClientCertIfGiven' || t.clientAuth === 'RequireAndVerifyClientCert') && present && !socket.authorized) return `client certificate not verified: ${String(socket.authorizationError)}`;
  if (t.clientAllowedSans.length > 0 && t.clientAuth !== 'NoClientCert') {
    if (!present) return 'no client certificate';
    const names = (cert.subjectaltname ?? '').split(/,\s*/).map((n) => n.replace(/^(DNS|IP Address|email|URI):/, ''));
    if (cert.subject?.CN) names.push(String(cert.subject.CN));
    if (!t.clientAllowedSans.some((n) => names.includes(n))) return 'client certificate names none of client_allowed_sans';
  }
  return null;
}

/**
 * Serves `app` on `address`: HTTPS when the web config file has tls_server_config, HTTP otherwise.
 * Every new connection first looks for a change of the web config file (and its certificate files),
 * so a renewed certificate or CA applies from the next connection on; switching TLS on or off needs a
 * restart (the listening socket is one or the other).
 */
export async function listen(app: express.Express, address: string, webConfig?: WebConfigFile, logger?: Logger): Promise<{ server: http.Server; url: string; port: number }> {
  const { host, port } = parseListenAddress(address);
  const initial = webConfig?.current.tls ?? null;
  let server: http.Server;
  if (initial && webConfig) {
    let policy = initial;
    const tlsServer = https.createServer(serverOptions(initial), app);
    // Before Node's own listener wraps the socket in TLS, so this connection gets the current file.
    tlsServer.prependListener('connection', () => webConfig.refresh());
    webConfig.onChange((c) => {
      if (!c.tls) {
        logger?.warn('the web config file no longer has tls_server_config: still serving HTTPS with the previous settings until a restart');
        return;
      }
      policy = c.tls;
      const opts = serverOptions(c.tls);
      tlsServer.setSecureContext(opts);
      // Read by Node for each new connection; setSecureContext does not change them.
      Object.assign(tlsServer, { requestCert: opts.requestCert, rejectUnauthorized: opts.rejectUnauthorized });
    });
    tlsServer.on('secureConnection', (socket: TLSSocket) => {
      const refusal = clientCertRefusal(policy, socket);
      if (refusal) {
        logger?.info({ remote: socket.remoteAddress, reason: refusal }, 'TLS connection refused');
        socket.destroy();
      }
    });
    tlsServer.on('tlsClientError', (err) => logger?.debug({ reason: err.message }, 'TLS handshake failed'));
    server = tlsServer;
  } else {
    server = http.createServer(app);
    webConfig?.onChange((c) => {
      if (c.tls) logger?.warn('the web config file now has tls_server_config: TLS starts at the next restart (still serving HTTP)');
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as { address: string; port: number };
  const shown = !host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return { server, url: `${initial ? 'https' : 'http'}://${shown}:${addr.port}`, port: addr.port };
}
