// The whole stack for the fault calendar, every part real and on 127.0.0.1: the simulated platform
// (in this process), an SMTP server (in this process), the exporter (`patrol serve`, a child process
// that can be killed and restarted), Prometheus with the shipped rules, Alertmanager with a config
// derived from the shipped example, and a webhook receiver that records every notification.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync, type WriteStream } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import YAML from 'yaml';
import { DEMO_ACCOUNT, startSimulator, type Simulator } from '../../src/sim/platform.js';
import { findBinary } from '../../test/helpers/tools.js';

export const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

export async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `fn` until it returns a value, at most `ms` (bounded in time and in tries). */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms: number, stepMs = 200): Promise<T> {
  const until = Date.now() + ms;
  for (let i = 0; i < Math.ceil(ms / stepMs) + 1 && Date.now() <= until; i++) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    await sleep(stepMs);
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

// ---------------------------------------------------------------------------------------------
// Webhook receiver

export interface Notified {
  /** When it arrived (ms). */
  at: number;
  /** Which notification (one POST from Alertmanager: one group, one receiver) it came in, counted from 1. */
  post: number;
  receiver: string;
  alertname: string;
  serviceId: string | undefined;
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
}

interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
}

export async function startWebhook(): Promise<{ url: string; notified: Notified[]; close: () => Promise<void> }> {
  const notified: Notified[] = [];
  let posts = 0;
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const receiver = (req.url ?? '').replace(/^\/hook\//, '');
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { alerts?: WebhookAlert[] };
        const post = ++posts;
        for (const a of body.alerts ?? []) {
          notified.push({ at, post, receiver, alertname: a.labels.alertname ?? '', serviceId: a.labels.service_id, status: a.status, labels: a.labels });
        }
      } catch {
        // A body that is not JSON is not a notification; Alertmanager never sends one.
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, notified, close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }) };
}

// ---------------------------------------------------------------------------------------------
// SMTP server (plain text, no TLS: the exporter's smtp.tls is `none` for this run)

export interface Smtp {
  port: number;
  /** When each message arrived (ms). */
  received: number[];
  stop: () => Promise<void>;
  start: () => Promise<void>;
}

export async function startSmtp(): Promise<Smtp> {
  const received: number[] = [];
  let server: SMTPServer | null = null;
  let port = 0;
  const start = async () => {
    const s = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData(stream, _session, callback) {
        stream.on('data', () => undefined);
        stream.on('end', () => {
          received.push(Date.now());
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve));
    port = (s.server.address() as AddressInfo).port;
    server = s;
  };
  const stop = async () => {
    const s = server;
    server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await start();
  return { get port() { return port; }, received, stop, start };
}

// ---------------------------------------------------------------------------------------------
// The exporter's config for the run

export interface ExporterConfigOptions {
  simUrl: string;
  services: string[];
  roundSeconds: number;
  settleTimeoutMs: number;
  dbPath: string;
  smtpPort: number;
  /** A 6-field cron for the digest; default: never within the run (1 January). */
  digestCron?: string;
  /** Renamed services (the reload changes a name). */
  names?: Record<string, string>;
}

export function exporterConfig(o: ExporterConfigOptions): string {
  const service = (id: string) => `
  - id: ${id}
    name: ${JSON.stringify(o.names?.[id] ?? id)}
    app_id: ${DEMO_ACCOUNT.appId}
    business_id: ${id}
    calls:
      - name: call
        http:
          method: POST
          url: "{{vars.platform_url}}/v1/${id}"
          headers: { X-Appid: "{{app_id}}", X-Api-Key: "\${TRUTH_API_KEY}" }
          json: { text: patrol }
        expect:
          status: 200
          json: [{ path: code, equals: 0 }]
    auth_checks:
      - name: wrong_key
        http:
          method: POST
          url: "{{vars.platform_url}}/v1/${id}"
          headers: { X-Appid: "{{app_id}}", X-Api-Key: not-the-key }
          json: { text: x }
        rejected_when: { status: [401, 403] }`;
  return `# Written by bench/truth for one replay of the fault calendar.
global:
  schedule: "*/${o.roundSeconds} * * * * *"
  timezone: UTC
  run_on_start: true
  concurrency: 32
  round_timeout: ${Math.max(5, o.roundSeconds - 2)}s
  call_timeout: 10s
  settle:
    timeout: ${o.settleTimeoutMs}ms
    poll_interval: 250ms
    confirm_reads: 1
vars:
  platform_url: ${o.simUrl}
platforms:
  console:
    timezone: UTC
    login:
      http:
        method: POST
        url: "{{vars.platform_url}}/console/login"
        json: { username: ${DEMO_ACCOUNT.username}, password: "\${TRUTH_CONSOLE_PASSWORD}" }
      expect:
        status: 200
        json: [{ path: code, equals: 0 }]
      extract:
        sso: data.ssoSessionId
    session:
      headers:
        Cookie: "ssoSessionId={{session.sso}}"
      max_age: 5m
    not_logged_in:
      status: [401, 403]
      json: [{ path: code, equals: 11001 }]
    counter:
      http:
        url: "{{vars.platform_url}}/console/usage"
        query: { appid: "{{app_id}}", service: "{{business_id}}" }
      expect:
        json: [{ path: code, equals: 0 }]
      value: data.usedCount
services:${o.services.map(service).join('')}
storage:
  path: ${JSON.stringify(o.dbPath)}
  maintenance_schedule: "*/10 * * * * *"
digest:
  enabled: true
  schedule: ${JSON.stringify(o.digestCron ?? '0 0 0 1 1 *')}
  day: current
  locale: en
  retry: { attempts: 2, backoff: 1s, max_backoff: 1s }
smtp:
  host: 127.0.0.1
  port: ${o.smtpPort}
  tls: none
  from: patrol@example.test
  to: oncall@example.test
  timeout: 5s
`;
}

export const EXPORTER_ENV = { TRUTH_API_KEY: DEMO_ACCOUNT.apiKey, TRUTH_CONSOLE_PASSWORD: DEMO_ACCOUNT.password };

// ---------------------------------------------------------------------------------------------
// Child processes

export class Child {
  proc: ChildProcess | null = null;
  private exited: Promise<unknown> | null = null;
  constructor(
    readonly name: string,
    private readonly argv: string[],
    private readonly log: WriteStream,
    private readonly env: NodeJS.ProcessEnv = {},
  ) {}

  start(): void {
    const [cmd, ...args] = this.argv;
    const proc = spawn(cmd, args, { cwd: REPO, env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.log.write(`--- ${new Date().toISOString()} start ${this.name}\n`);
    proc.stdout!.on('data', (d: Buffer) => this.log.write(d));
    proc.stderr!.on('data', (d: Buffer) => this.log.write(d));
    this.exited = once(proc, 'exit');
    this.proc = proc;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.proc!.kill(sig);
  }

  /** Send `sig` and wait for the exit (SIGKILL after `ms`). */
  async stop(sig: NodeJS.Signals = 'SIGTERM', ms = 20_000): Promise<void> {
    if (!this.running) return;
    this.proc!.kill(sig);
    const timer = setTimeout(() => this.signal('SIGKILL'), ms);
    await this.exited;
    clearTimeout(timer);
    this.log.write(`--- ${new Date().toISOString()} ${this.name} exited after ${sig}\n`);
  }
}

async function ready(url: string, what: string, ms = 60_000): Promise<void> {
  await waitFor(what, async () => ((await fetch(url)).ok ? true : undefined), ms, 200);
}

// ---------------------------------------------------------------------------------------------
// Alertmanager's config, derived from alerts/alertmanager.example.yml

type Route = Record<string, unknown> & { routes?: Route[] };

/**
 * The shipped example with the timings shortened for fast rounds and every receiver replaced by
 * a webhook to `hookUrl/hook/<receiver name>`; routes, grouping and inhibitions stay as shipped.
 */
export function alertmanagerConfig(hookUrl: string): string {
  const doc = YAML.parse(readFileSync(path.join(REPO, 'alerts', 'alertmanager.example.yml'), 'utf8')) as {
    global?: Record<string, unknown>;
    route: Route;
    receivers: { name: string }[];
    inhibit_rules?: unknown[];
  };
  doc.global = { resolve_timeout: '1m' };
  const shorten = (r: Route, root: boolean) => {
    if (root || r.group_wait !== undefined) r.group_wait = '1s';
    if (root || r.group_interval !== undefined) r.group_interval = '2s';
    if (root || r.repeat_interval !== undefined) r.repeat_interval = '4h';
    for (const sub of r.routes ?? []) shorten(sub, false);
  };
  shorten(doc.route, true);
  doc.receivers = doc.receivers.map((r) => ({ name: r.name, webhook_configs: [{ url: `${hookUrl}/hook/${encodeURIComponent(r.name)}`, send_resolved: true }] }));
  return YAML.stringify(doc);
}

// ---------------------------------------------------------------------------------------------
// The stack

export interface StackOptions {
  dir: string;
  services: string[];
  roundSeconds: number;
  settleTimeoutMs: number;
  /** The platform's metering lag (ms). */
  lagMs: number;
}

export interface Stack {
  sim: Simulator;
  smtp: Smtp;
  webhook: Awaited<ReturnType<typeof startWebhook>>;
  exporterUrl: string;
  promUrl: string;
  amUrl: string;
  configFile: string;
  dbPath: string;
  /** Rewrites the exporter's config file (for a reload). */
  writeConfig: (extra?: Partial<ExporterConfigOptions>) => void;
  /** (Re)starts the exporter and waits until it is ready. */
  startExporter: () => Promise<void>;
  exporter: Child;
  close: () => Promise<void>;
}

export async function startStack(o: StackOptions): Promise<Stack> {
  mkdirSync(o.dir, { recursive: true });
  const log = (name: string) => createWriteStream(path.join(o.dir, `${name}.log`), { flags: 'a' });
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const sim = await startSimulator({ lagMs: o.lagMs, timezone: 'UTC', services: o.services });
    closers.push(() => sim.close());
    const smtp = await startSmtp();
    closers.push(() => smtp.stop());
    const webhook = await startWebhook();
    closers.push(() => webhook.close());

    const configFile = path.join(o.dir, 'patrol.yml');
    const dbPath = path.join(o.dir, 'patrol.db');
    const base: ExporterConfigOptions = { simUrl: sim.url, services: o.services, roundSeconds: o.roundSeconds, settleTimeoutMs: o.settleTimeoutMs, dbPath, smtpPort: smtp.port };
    // Changes add up: a later rewrite keeps what an earlier one changed.
    let current = base;
    const writeConfig = (extra: Partial<ExporterConfigOptions> = {}) => {
      current = { ...current, ...extra };
      writeFileSync(configFile, exporterConfig(current));
    };
    writeConfig();

    const exporterPort = await freePort();
    const exporterUrl = `http://127.0.0.1:${exporterPort}`;
    const exporter = new Child(
      'patrol',
      [process.execPath, '--import', 'tsx', 'src/cli.ts', 'serve', `--config.file=${configFile}`, `--web.listen-address=127.0.0.1:${exporterPort}`, '--log.level=info'],
      log('patrol'),
      EXPORTER_ENV,
    );
    const startExporter = async () => {
      exporter.start();
      await ready(`${exporterUrl}/-/ready`, 'the exporter ready');
    };
    closers.push(() => exporter.stop('SIGTERM'));
    await startExporter();

    const amPort = await freePort();
    const amUrl = `http://127.0.0.1:${amPort}`;
    writeFileSync(path.join(o.dir, 'alertmanager.yml'), alertmanagerConfig(webhook.url));
    const am = new Child('alertmanager', [
      findBinary(['prometheus-alertmanager', 'alertmanager']) ?? 'alertmanager',
      `--config.file=${path.join(o.dir, 'alertmanager.yml')}`,
      `--storage.path=${path.join(o.dir, 'am-data')}`,
      `--web.listen-address=127.0.0.1:${amPort}`,
      '--cluster.listen-address=',
    ], log('alertmanager'));
    am.start();
    closers.push(() => am.stop('SIGTERM'));
    await ready(`${amUrl}/-/ready`, 'alertmanager ready');

    const promPort = await freePort();
    const promUrl = `http://127.0.0.1:${promPort}`;
    writeFileSync(path.join(o.dir, 'prometheus.yml'), `# Written by bench/truth.
global: { scrape_interval: 2s, evaluation_interval: 2s }
rule_files: [${JSON.stringify(path.join(REPO, 'alerts', '*.rules.yml'))}]
alerting:
  alertmanagers: [{ static_configs: [{ targets: ["127.0.0.1:${amPort}"] }] }]
scrape_configs:
  - job_name: patrol
    static_configs: [{ targets: ["127.0.0.1:${exporterPort}"] }]
`);
    const prom = new Child('prometheus', [
      findBinary(['prometheus']) ?? 'prometheus',
      `--config.file=${path.join(o.dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(o.dir, 'prom-data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ], log('prometheus'));
    prom.start();
    closers.push(() => prom.stop('SIGTERM'));
    await ready(`${promUrl}/-/ready`, 'prometheus ready');

    return { sim, smtp, webhook, exporterUrl, promUrl, amUrl, configFile, dbPath, writeConfig, startExporter, exporter, close };
  } catch (err) {
    await close();
    throw err;
  }
}
