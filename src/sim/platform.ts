/**
 * The simulated API platform: `patrol demo`'s embedded origin and the test double of the whole suite.
 *
 * It imitates what patrol inspects on a real platform: a console you log into (session cookie), a
 * "today's call count" usage API, and metered HTTP services, with switchable faults so every verdict
 * can be produced on demand.
 *
 * Platform endpoints (JSON in and out):
 *   POST /console/login            {username, password} -> {code:0,data:{ssoSessionId}} + Set-Cookie
 *   GET  /console/usage?appid=A&service=S   (cookie ssoSessionId) -> {code:0,data:{appid,service,date,usedCount}}
 *   POST /v1/:service              headers X-Appid, X-Api-Key; body {text} (service: ocr | nlp | SimOptions.services)
 *
 * Control endpoints, for a person running the demo (no auth: the sim binds to 127.0.0.1 by default):
 *   GET  /_sim/state               faults, lag, today's counters, stats
 *   POST /_sim/faults              {service?, faults?, global?, lagMs?}: `faults` replaces that
 *                                  service's faults, `global` replaces the global ones, `lagMs` sets
 *                                  the metering lag
 *   POST /_sim/clear               every fault off
 *   POST /_sim/reset-counters      what midnight does: today's counters back to 0
 *   POST /_sim/expire-sessions     every session expires (next usage read: "not logged in")
 *
 * e.g. curl -XPOST localhost:PORT/_sim/faults -H 'content-type: application/json' \
 *        -d '{"service":"ocr","faults":{"dropEvery":2}}'
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { checkLag, isRecord, parseGlobalFaults, parseServiceFaults, type GlobalFaults, type ServiceFaults } from './faults.js';
import { createSignedServices, WEBOCR_PATH, type SignedServiceFaults } from './ws.js';
import { traceRecorder, type ReceivedTrace } from './traces.js';

export { parseServiceFaults, type GlobalFaults, type ServiceFaults } from './faults.js';

export const DEMO_ACCOUNT = {
  username: 'demo',
  password: 'demo-password',
  appId: '5f3a9c01',
  apiKey: 'demo-api-key-0001',
  apiSecret: 'demo-api-secret-0001',
} as const;

/** The HTTP services the simulated platform sells (by default; `SimOptions.services` adds more). */
export const HTTP_SERVICES = ['ocr', 'nlp'] as const;

export interface SimOptions {
  host?: string;
  port?: number;
  /** Delay between a call's answer and its units landing on the counter. Default 2000. */
  lagMs?: number;
  /** The platform's timezone: counters are "today's" in it. Default 'Asia/Shanghai'. */
  timezone?: string;
  /** Default 600000. */
  sessionTtlMs?: number;
  /**
   * Extra HTTP services (served like ocr: POST /v1/<name>, the text upper-cased), so a test can give
   * each fault a service of its own. Names are lower-case ASCII letters, digits and dashes.
   */
  services?: string[];
  logger?: Logger;
}

export interface Simulator {
  /** e.g. http://127.0.0.1:43127 */
  url: string;
  port: number;
  /** The HTTP services served: HTTP_SERVICES, then SimOptions.services. */
  services: readonly string[];
  /** Replaces that service's faults (and restarts its dropEvery count). Throws on an unknown service or a bad value. */
  setFaults(service: string, faults: ServiceFaults): void;
  /** Replaces the global faults. */
  setGlobalFaults(faults: GlobalFaults): void;
  clearFaults(): void;
  setLagMs(ms: number): void;
  /** What midnight does: every counter of today back to 0 (pending metering still lands afterwards). */
  resetCounters(): void;
  /** Every session becomes expired (next usage read answers "not logged in"). */
  expireSessions(): void;
  /** Today's count, synchronous. */
  usage(appId: string, service: string): number;
  /**
   * Requests received: `logins` counts every POST /console/login (attempts, whatever the answer),
   * `usageReads` every GET /console/usage, `calls` every POST /v1/<service> per known service.
   */
  stats(): { logins: number; usageReads: number; calls: Record<string, number> };
  /**
   * Faults of the signed services (src/sim/ws.ts: iat, tts over WebSocket; webocr over REST), which
   * also take acceptBadSignature and closeMidStream. Throws on an unknown service or a bad value.
   */
  setSignedFaults(service: string, faults: SignedServiceFaults): void;
  /** Handshakes (WebSocket) and requests (REST) received per signed service. */
  signedStats(): Record<string, number>;
  /** The last requests and handshakes received (not /_sim/), with their traceparent header (src/sim/traces.ts). */
  traces(): ReceivedTrace[];
  /** Closes sockets, clears every pending timer, resolves when the server is closed. */
  close(): Promise<void>;
}

// Business codes, named once so the answers stay consistent.
const CODE = {
  ok: 0,
  badLogin: 10001,
  invalidParam: 10106,
  badRequest: 10400,
  notFound: 10404,
  tooLarge: 10413,
  internal: 10500,
  notLoggedIn: 11001,
  unauthorized: 11200,
  loginDown: 50300,
} as const;

const BODY_LIMIT = '1mb';
// Sessions are kept after they expire so they can be answered with the "expired" form; this bounds
// the memory a long demo (or a client that logs in on every read) can take.
const MAX_SESSIONS = 10_000;

interface ServiceState {
  faults: ServiceFaults;
  /** Successful calls since these faults were set: drives dropEvery. */
  successes: number;
}

function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function send(res: Response, status: number, body: unknown): void {
  res.status(status).json(body);
}

export async function startSimulator(opts: SimOptions = {}): Promise<Simulator> {
  const log = opts.logger?.child({ component: 'sim' });
  const host = opts.host ?? '127.0.0.1';
  let lagMs = checkLag(opts.lagMs ?? 2000);
  const timezone = opts.timezone ?? 'Asia/Shanghai';
  const sessionTtlMs = opts.sessionTtlMs ?? 600_000;
  const services: readonly string[] = [...HTTP_SERVICES, ...(opts.services ?? [])];
  for (const s of opts.services ?? []) {
    if (!/^[a-z0-9-]{1,32}$/.test(s)) throw new TypeError(`services: ${JSON.stringify(s)} is not a lower-case name`);
  }
  if (new Set(services).size !== services.length) throw new TypeError('services: a name is given twice');
  const isHttpService = (s: string): boolean => services.includes(s);

  // Throws RangeError on an unknown timezone, so a bad option fails at start, not on the first read.
  const dayFormat = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  });
  const today = (): string => {
    const parts = dayFormat.formatToParts(new Date());
    const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
    return `${get('year')}-${get('month')}-${get('day')}`;
  };

  // Only today's counters are ever read, so one day's map is kept: when the day changes in the
  // platform's timezone the map starts empty, which is the midnight reset happening naturally.
  let counterDay = today();
  let counters = new Map<string, number>();
  const counterKey = (appId: string, service: string) => JSON.stringify([appId, service]);
  const todaysCounters = (): Map<string, number> => {
    const d = today();
    if (d !== counterDay) {
      counterDay = d;
      counters = new Map();
    }
    return counters;
  };

  const sessions = new Map<string, { expiresAt: number }>();
  const serviceStates = new Map<string, ServiceState>();
  const freshState = (faults: ServiceFaults = {}): ServiceState => ({ faults, successes: 0 });
  for (const s of services) serviceStates.set(s, freshState());
  let globalFaults: GlobalFaults = {};

  const stats = { logins: 0, usageReads: 0, calls: Object.fromEntries(services.map((s) => [s, 0])) };

  // Every timer the sim owns (metering lag, slow answers) is tracked so close() can clear it. They are
  // deliberately not unref'd: while the server is open it holds the event loop anyway, and a timer
  // that close() failed to clear then keeps the test process alive, which makes the leak visible.
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  const schedule = (ms: number, fn: () => void): NodeJS.Timeout | undefined => {
    if (closed) return undefined;
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  };
  const cancel = (t: NodeJS.Timeout | undefined) => {
    if (!t) return;
    clearTimeout(t);
    timers.delete(t);
  };
  let pendingMeterings = 0;

  const addUnits = (appId: string, service: string, units: number) => {
    const m = todaysCounters();
    const k = counterKey(appId, service);
    m.set(k, (m.get(k) ?? 0) + units);
  };

  /**
   * Units land lagMs after the answer, as on a real platform where metering is an async pipeline.
   * The lag is fixed when the call is answered, so changing it later does not move charges in flight.
   */
  const meter = (appId: string, service: string, units: number) => {
    if (units <= 0) return;
    const lag = serviceStates.get(service)?.faults.lagMs ?? lagMs;
    log?.debug({ appId, service, units, lagMs: lag }, 'metering');
    if (lag <= 0) {
      // Synchronous so a read right after the answer already sees it (tests with lag 0 rely on this).
      addUnits(appId, service, units);
      return;
    }
    pendingMeterings++;
    schedule(lag, () => {
      pendingMeterings--;
      addUnits(appId, service, units);
    });
  };

  // iat, tts (WebSocket) and webocr (REST): signed like the real platform, metered through `meter`.
  const signed = createSignedServices({ account: DEMO_ACCOUNT, meter, schedule, cancel, log });

  const setFaults = (service: string, faults: ServiceFaults) => {
    if (!isHttpService(service)) throw new TypeError(`unknown service: ${service}`);
    serviceStates.set(service, freshState(parseServiceFaults(faults)));
    log?.info({ service, faults }, 'service faults set');
  };
  const setGlobalFaults = (faults: GlobalFaults) => {
    globalFaults = parseGlobalFaults(faults);
    log?.info({ faults: globalFaults }, 'global faults set');
  };
  const clearFaults = () => {
    signed.clearFaults();
    for (const s of services) serviceStates.set(s, freshState());
    globalFaults = {};
    log?.info('faults cleared');
  };
  const setLagMs = (ms: number) => {
    lagMs = checkLag(ms);
    log?.info({ lagMs }, 'metering lag set');
  };
  const resetCounters = () => {
    todaysCounters().clear();
    log?.info('counters reset');
  };
  const expireSessions = () => {
    for (const s of sessions.values()) s.expiresAt = 0;
    log?.info({ sessions: sessions.size }, 'sessions expired');
  };
  const usage = (appId: string, service: string) => todaysCounters().get(counterKey(appId, service)) ?? 0;

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // Parse JSON whatever the Content-Type says: a probe that forgets the header should still get a
  // precise answer about its body, not a confusing "missing text".
  app.use(express.json({ limit: BODY_LIMIT, type: () => true }));

  app.post('/console/login', (req, res) => {
    stats.logins++;
    if (globalFaults.loginDown) {
      send(res, 503, { code: CODE.loginDown, message: 'login service unavailable' });
      return;
    }
    const body: unknown = req.body;
    const ok =
      isRecord(body) && body.username === DEMO_ACCOUNT.username && body.password === DEMO_ACCOUNT.password;
    if (!ok) {
      send(res, 401, { code: CODE.badLogin, message: 'invalid username or password' });
      return;
    }
    if (sessions.size >= MAX_SESSIONS) {
      // Map keeps insertion order: the first key is the oldest session.
      const oldest = sessions.keys().next().value;
      if (oldest !== undefined) sessions.delete(oldest);
    }
    const id = randomBytes(24).toString('base64url');
    sessions.set(id, { expiresAt: Date.now() + sessionTtlMs });
    res.setHeader('Set-Cookie', `ssoSessionId=${id}; Path=/; HttpOnly`);
    send(res, 200, { code: CODE.ok, message: 'success', data: { ssoSessionId: id } });
  });

  app.get('/console/usage', (req, res) => {
    stats.usageReads++;
    const id = readCookie(req.get('cookie'), 'ssoSessionId');
    const session = id === undefined ? undefined : sessions.get(id);
    if (!session) {
      send(res, 401, { code: CODE.notLoggedIn, message: 'not logged in' });
      return;
    }
    if (session.expiresAt <= Date.now()) {
      // HTTP 200 with a business code, as many consoles do: clients must look at the body too.
      send(res, 200, { code: CODE.notLoggedIn, message: 'not logged in (session expired)' });
      return;
    }
    const appid = req.query.appid;
    const service = req.query.service;
    if (typeof appid !== 'string' || appid === '') {
      send(res, 400, { code: CODE.invalidParam, message: 'invalid parameter: appid' });
      return;
    }
    if (typeof service !== 'string' || service === '') {
      send(res, 400, { code: CODE.invalidParam, message: 'invalid parameter: service' });
      return;
    }
    if (serviceStates.get(service)?.faults.usageDown) {
      send(res, 500, { code: CODE.internal, message: 'usage service unavailable' });
      return;
    }
    if (globalFaults.malformedUsage) {
      send(res, 200, { code: CODE.ok, message: 'success', data: { appid, service, usedCount: '--' } });
      return;
    }
    const date = today();
    send(res, 200, {
      code: CODE.ok,
      message: 'success',
      data: { appid, service, date, usedCount: usage(appid, service) },
    });
  });

  app.post('/v1/:service', (req, res) => {
    const service = req.params.service;
    if (typeof service !== 'string' || !isHttpService(service)) {
      send(res, 404, { code: CODE.notFound, message: 'unknown service' });
      return;
    }
    stats.calls[service]++;
    // The state object is captured now, so one call is judged by one consistent set of faults even
    // if they change while it is being delayed (a replaced state also keeps its own dropEvery count).
    const state = serviceStates.get(service) ?? freshState();
    const faults = state.faults;
    const appId = req.get('x-appid') ?? '';
    const apiKey = req.get('x-api-key') ?? '';
    const body: unknown = req.body;

    const answer = () => {
      // A client that went away gets no answer and is not charged.
      if (res.destroyed || res.writableEnded) return;
      const credentialsOk = appId === DEMO_ACCOUNT.appId && apiKey === DEMO_ACCOUNT.apiKey;
      if (!credentialsOk && !faults.acceptBadCredentials) {
        send(res, 401, { code: CODE.unauthorized, message: 'unauthorized: invalid api key or app id' });
        return;
      }
      const text = isRecord(body) ? body.text : undefined;
      if (typeof text !== 'string') {
        send(res, 400, { code: CODE.invalidParam, message: 'invalid parameter: text' });
        return;
      }
      const units = faults.double ? 2 : 1;
      if (faults.error5xx) {
        send(res, 500, { code: CODE.internal, message: 'internal error' });
        if (faults.meterFailed) meter(appId, service, units);
        return;
      }
      const result = service === 'nlp' ? { length: text.length } : text.toUpperCase();
      send(res, 200, { code: CODE.ok, message: 'success', sid: randomBytes(8).toString('hex'), data: { result } });
      state.successes++;
      const dropped = faults.dropEvery !== undefined && state.successes % faults.dropEvery === 0;
      if (dropped) log?.debug({ service, n: state.successes }, 'metering dropped (fault)');
      else meter(appId, service, units);
    };

    const slowMs = faults.slowMs ?? 0;
    if (slowMs <= 0) {
      answer();
      return;
    }
    // The answer waits; if the client goes away meanwhile the call is abandoned and nothing is metered.
    const timer = schedule(slowMs, () => {
      res.off('close', onClose);
      answer();
    });
    const onClose = () => cancel(timer);
    res.once('close', onClose);
  });

  app.post(WEBOCR_PATH, signed.rest);

  // Control API for the person running the demo.
  const stateView = () => {
    const faults: Record<string, ServiceFaults> = {};
    for (const [s, st] of serviceStates) faults[s] = { ...st.faults };
    const counts: Record<string, Record<string, number>> = {};
    for (const [k, n] of todaysCounters()) {
      const [appId, service] = JSON.parse(k) as [string, string];
      (counts[appId] ??= {})[service] = n;
    }
    return {
      date: counterDay,
      timezone,
      lagMs,
      faults,
      global: { ...globalFaults },
      signed: signed.view(),
      counters: counts,
      pendingMeterings,
      sessions: sessions.size,
      stats: { logins: stats.logins, usageReads: stats.usageReads, calls: { ...stats.calls } },
    };
  };

  app.get('/_sim/traces', (_req, res) => {
    send(res, 200, { code: CODE.ok, message: 'success', data: traces.list() });
  });

  app.get('/_sim/state', (_req, res) => {
    send(res, 200, { code: CODE.ok, message: 'success', data: stateView() });
  });

  app.post('/_sim/faults', (req, res) => {
    const body: unknown = req.body ?? {};
    try {
      if (!isRecord(body)) throw new TypeError('body must be an object');
      // Validate everything before applying anything, so a bad request changes nothing.
      let service: string | undefined;
      let faults: ServiceFaults | undefined;
      if (body.faults !== undefined || body.service !== undefined) {
        if (typeof body.service !== 'string' || !isHttpService(body.service)) {
          throw new TypeError(`service must be one of: ${services.join(', ')}`);
        }
        service = body.service;
        faults = parseServiceFaults(body.faults ?? {});
      }
      const global = body.global === undefined ? undefined : parseGlobalFaults(body.global);
      const lag = body.lagMs === undefined ? undefined : checkLag(body.lagMs);
      if (service !== undefined && faults !== undefined) setFaults(service, faults);
      if (global !== undefined) setGlobalFaults(global);
      if (lag !== undefined) setLagMs(lag);
    } catch (err) {
      send(res, 400, { code: CODE.badRequest, message: `invalid request: ${(err as Error).message}` });
      return;
    }
    send(res, 200, { code: CODE.ok, message: 'success', data: stateView() });
  });

  // {service, faults}: replaces a signed service's faults (iat, tts, webocr).
  app.post('/_sim/signed-faults', (req, res) => {
    const body: unknown = req.body ?? {};
    try {
      if (!isRecord(body) || typeof body.service !== 'string') throw new TypeError('body must be {service, faults}');
      signed.setFaults(body.service, (body.faults ?? {}) as SignedServiceFaults);
    } catch (err) {
      send(res, 400, { code: CODE.badRequest, message: `invalid request: ${(err as Error).message}` });
      return;
    }
    send(res, 200, { code: CODE.ok, message: 'success', data: stateView() });
  });

  app.post('/_sim/clear', (_req, res) => {
    clearFaults();
    send(res, 200, { code: CODE.ok, message: 'success', data: stateView() });
  });

  app.post('/_sim/reset-counters', (_req, res) => {
    resetCounters();
    send(res, 200, { code: CODE.ok, message: 'success', data: stateView() });
  });

  app.post('/_sim/expire-sessions', (_req, res) => {
    expireSessions();
    send(res, 200, { code: CODE.ok, message: 'success', data: stateView() });
  });

  app.use((_req, res) => {
    send(res, 404, { code: CODE.notFound, message: 'not found' });
  });

  // Body parser errors (bad JSON, too large) and anything unexpected: always a JSON answer, never a crash.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = (isRecord(err) ? err : {}) as { type?: string; status?: number; statusCode?: number; message?: string };
    const status = e.status ?? e.statusCode ?? 500;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (e.type === 'entity.too.large') {
      send(res, 413, { code: CODE.tooLarge, message: `request body too large (limit ${BODY_LIMIT})` });
    } else if (e.type === 'entity.parse.failed') {
      send(res, 400, { code: CODE.badRequest, message: 'invalid JSON body' });
    } else if (status >= 400 && status < 500) {
      send(res, status, { code: CODE.badRequest, message: 'bad request' });
    } else {
      log?.error({ err }, 'sim handler failed');
      send(res, 500, { code: CODE.internal, message: 'internal error' });
    }
  });

  const server: Server = createServer(app);
  // Before any handler: every request and handshake is seen, whatever its answer.
  const traces = traceRecorder();
  server.prependListener('request', traces.record);
  server.prependListener('upgrade', traces.record);
  // WebSocket services share the HTTP server: /v2/iat and /v2/tts are upgrades.
  server.on('upgrade', signed.upgrade);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log?.error({ err }, 'sim server error'));

  const port = (server.address() as AddressInfo).port;
  // A wildcard bind is reachable on loopback; the url is for clients, which cannot dial a wildcard.
  const dialHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const urlHost = dialHost.includes(':') ? `[${dialHost}]` : dialHost;
  const url = `http://${urlHost}:${port}`;
  log?.info({ url, lagMs, timezone }, 'simulated platform listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    if (closing) return closing;
    closed = true;
    signed.close();
    for (const t of timers) clearTimeout(t);
    timers.clear();
    pendingMeterings = 0;
    closing = new Promise<void>((resolve) => {
      server.close((err) => {
        if (err) log?.warn({ err }, 'sim server close');
        resolve();
      });
      // Keep-alive and delayed (slowMs) requests would otherwise hold close() open.
      server.closeAllConnections();
    });
    return closing;
  };

  return {
    url,
    port,
    services,
    setFaults,
    setGlobalFaults,
    clearFaults,
    setLagMs,
    resetCounters,
    expireSessions,
    usage,
    stats: () => ({ logins: stats.logins, usageReads: stats.usageReads, calls: { ...stats.calls } }),
    setSignedFaults: (service: string, faults: SignedServiceFaults) => signed.setFaults(service, faults),
    signedStats: () => signed.view().calls,
    traces: traces.list,
    close,
  };
}
