// A status page to test: an exporter (no schedule) on a SQLite store holding today's rounds,
// served on 127.0.0.1 port 0. Shared by web.test.ts and browser.test.ts.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Exporter } from '../../src/exporter.js';
import { PatrolMetrics } from '../../src/metrics.js';
import { Redactor } from '../../src/redact.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { RoundResult } from '../../src/types.js';
import { createApp, listen, routes, type Route } from '../../src/web/server.js';
import { silentLogger } from './harness.js';
import type { WebConfigFile } from '../../src/web/webconfig.js';
import { ocrConfig } from './harness.js';
import { call, round } from './rounds.js';

export const SECRET = 'upstream-secret-9f8e7d6c';
export const HOSTILE = `<script>alert('x')</script>"><img src=x onerror=alert(1)>`;

export interface WebFixture {
  url: string;
  store: SqliteStore;
  exporter: Exporter;
  redactor: Redactor;
  rounds: RoundResult[];
  /** The app's route table (every endpoint with its access level). */
  routes: Route[];
  close: () => Promise<void>;
}

/**
 * The instant the status page takes for "now" (ServerDeps.now): a fixed afternoon in Asia/Shanghai,
 * so the fixtures' rounds and the page's day are one day whenever the tests run (rounds built from
 * the clock would fall on yesterday a minute after midnight there, 16:00 UTC).
 */
export const PAGE_NOW = Date.parse('2026-03-02T14:30:00+08:00');

/** The page's day's rounds: ocr ok, nlp a metering mismatch with a 10 MB upstream body, a hostile name that fails its call. */
export function todaysRounds(now = PAGE_NOW): RoundResult[] {
  const huge = `<html>${SECRET} ${'<b>x</b>'.repeat(1_300_000)}</html>`;
  return [
    round(now - 120_000, [{ id: 'ocr', name: '文字识别' }, { id: 'nlp', name: '自然语言处理' }, { id: 'evil', name: HOSTILE }]),
    round(now - 60_000, [
      { id: 'ocr', name: '文字识别', before: 101 },
      { id: 'nlp', name: '自然语言处理', verdict: 'metering_mismatch', before: 7 },
      {
        id: 'evil',
        name: HOSTILE,
        verdict: 'call_failed',
        reason: `call c1: ${HOSTILE} ${SECRET}`,
        calls: [
          call('c1', 1.25, false, {
            status: 502,
            failures: [{ check: 'status', expected: '200', actual: `502 ${HOSTILE}` }],
            requestExcerpt: `POST /v1/x key=${SECRET}`,
            responseExcerpt: huge,
          }),
        ],
      },
    ]),
  ];
}

export interface WebOptions {
  telemetryPath?: string;
  webConfig?: WebConfigFile;
  logger?: pino.Logger;
  /** The page's clock (default: fixed at PAGE_NOW). */
  now?: () => number;
}

/** An exporter (no schedule) on a SQLite store holding `rounds`, served on 127.0.0.1:0. */
export async function startWeb(extraConfig = '', env: NodeJS.ProcessEnv = {}, rounds = todaysRounds(), options: WebOptions = {}): Promise<WebFixture> {
  const text = `${ocrConfig()}\n${extraConfig}`;
  const store = new SqliteStore(':memory:');
  for (const r of rounds) store.save(r);
  const redactor = new Redactor([SECRET]);
  const logger = options.logger ?? silentLogger;
  const metrics = new PatrolMetrics(new Registry(), 'test');
  const exporter = new Exporter({ configText: () => text, loadOptions: { env }, logger, metrics, store, redactor });
  await exporter.start(false);
  const deps = { exporter, metrics, store, logger, redactor, telemetryPath: options.telemetryPath, webConfig: options.webConfig, now: options.now ?? (() => PAGE_NOW) };
  const { server, url } = await listen(createApp(deps), '127.0.0.1:0', options.webConfig, logger);
  const close = async () => {
    await closeServer(server);
    await exporter.stop();
  };
  return { url, store, exporter, redactor, rounds, routes: routes(deps), close };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export interface Certificates {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate from another CA, which the server must refuse. */
  rogueCert: string;
  rogueKey: string;
}

/** A CA, a server certificate for 127.0.0.1 and client certificates, made by openssl in `dir`. */
export function makeCertificates(dir: string): Certificates {
  const f = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const ca = (name: string, cn: string) =>
    ssl('req', '-x509', ...newKey, '-keyout', f(`${name}.key`), '-out', f(`${name}.crt`), '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const leaf = (name: string, cn: string, caName: string, ext: string) => {
    ssl('req', ...newKey, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    writeFileSync(f(`${name}.ext`), ext);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${caName}.crt`), '-CAkey', f(`${caName}.key`), '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '2', '-extfile', f(`${name}.ext`));
  };
  ca('ca', 'patrol test CA');
  ca('rogue-ca', 'someone else');
  leaf('server', '127.0.0.1', 'ca', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'scraper', 'ca', 'subjectAltName=DNS:scraper\nextendedKeyUsage=clientAuth\n');
  leaf('rogue', 'scraper', 'rogue-ca', 'subjectAltName=DNS:scraper\nextendedKeyUsage=clientAuth\n');
  return { dir, ca: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key'), clientCert: f('client.crt'), clientKey: f('client.key'), rogueCert: f('rogue.crt'), rogueKey: f('rogue.key') };
}
