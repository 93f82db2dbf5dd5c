// --web.config.file end to end: certificates made by openssl here, the file checked by
// `promtool check web-config`, HTTPS with client certificates required and verified, bcrypt
// basic_auth_users (cached), response headers, a real Prometheus scraping over TLS (up == 1), and
// the file re-read on change (a bad new file keeps the old one).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import pino from 'pino';
import { parseWebConfig, WebConfigFile } from '../src/web/webconfig.js';
import { eventually, freePort, runPatrol } from './helpers/process.js';
import { requireTool } from './helpers/tools.js';
import { makeCertificates, startWeb, type Certificates } from './helpers/web.js';
import { assertNoSecrets } from './helpers/secrets.js';

const USER = 'prometheus';
const PASSWORD = 'scrape-pw-5d4c3b2a19';
const TOKEN = 'admin-tok-0a9b8c7d6e';

interface Answer {
  status: number;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTPS request on a new connection (so it sees the current web config file). */
function request(url: string, opts: { ca: string; cert?: string; key?: string; auth?: string; method?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: opts.method ?? 'GET',
        agent: false,
        ca: readFileSync(opts.ca),
        cert: opts.cert ? readFileSync(opts.cert) : undefined,
        key: opts.key ? readFileSync(opts.key) : undefined,
        headers: opts.auth ? { authorization: opts.auth } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The outcome of a request, an error being a result here ("refused: <code>"). */
async function attempt(url: string, opts: Parameters<typeof request>[1]): Promise<number | string> {
  try {
    return (await request(url, opts)).status;
  } catch (err) {
    return `refused: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
}

const basicAuth = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function webConfigText(certs: Certificates, hash: string, clientAuth = 'RequireAndVerifyClientCert'): string {
  // Relative names: the toolkit reads them relative to the web config file.
  return `tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: ${clientAuth}
  client_ca_file: ca.crt
  min_version: TLS12
http_server_config:
  headers:
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  ${USER}: ${hash}
`;
}

function setup(t: TestContext) {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-webtls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const certs = makeCertificates(dir);
  const hash = bcrypt.hashSync(PASSWORD, 10);
  const file = path.join(dir, 'web.yml');
  writeFileSync(file, webConfigText(certs, hash));
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
  const loaded = WebConfigFile.load(file, logger);
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.error);
  return { dir, certs, hash, file, lines, logger, webConfig: loaded.web };
}

const AUTH_CONFIG = `web:\n  auth:\n    bearer_token: "\${PATROL_WEB_TOKEN}"\n`;

test('promtool check web-config accepts the file the tests use, and refuses what patrol refuses', async (t) => {
  const promtool = requireTool(t, 'promtool');
  if (!promtool) return;
  const { file, dir, certs, hash } = setup(t);
  const ok = spawnSync(promtool, ['check', 'web-config', file], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr + ok.stdout);
  assert.ok(parseWebConfig(readFileSync(file, 'utf8'), file).ok);
  // The same refusals on both sides.
  const bad: [string, RegExp][] = [
    [webConfigText(certs, hash).replace('min_version: TLS12', 'min_version: TLS12\n  colour: blue'), /tls_server_config\.colour: unknown key/],
    [webConfigText(certs, hash).replace('X-Frame-Options: deny', 'X-Frame-Options: allow'), /X-Frame-Options: expected one of deny, sameorigin/],
    [webConfigText(certs, hash).replace('X-Frame-Options: deny', 'X-Custom: 1'), /headers\.X-Custom: this header cannot be set/],
    [webConfigText(certs, 'plaintext'), new RegExp(`basic_auth_users\\.${USER}: expected a bcrypt hash`)],
    [webConfigText(certs, hash).replace('client_auth_type: RequireAndVerifyClientCert', 'client_auth_type: Sometimes'), /client_auth_type: expected one of/],
    [webConfigText(certs, hash).replace('key_file: server.key', 'key_file: ca.key'), /cannot be used/],
    [webConfigText(certs, hash).replace('cert_file: server.crt', 'cert_file: missing.crt'), /cert_file: cannot read .*missing\.crt: ENOENT/],
  ];
  for (const [text, why] of bad) {
    const f = path.join(dir, 'bad.yml');
    writeFileSync(f, text);
    const p = spawnSync(promtool, ['check', 'web-config', f], { encoding: 'utf8' });
    assert.notEqual(p.status, 0, `promtool refuses too: ${why}`);
    const ours = parseWebConfig(text, f);
    assert.ok(!ours.ok);
    assert.match(ours.error, why);
    assert.ok(!ours.error.includes(hash), 'the hash is not shown');
  }
});

test('serve refuses a bad --web.config.file or --web.telemetry-path at start, with the reason', async (t) => {
  const { dir } = setup(t);
  const bad = path.join(dir, 'bad-web.yml');
  writeFileSync(bad, 'tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n');
  const r = await runPatrol(['serve', '--config.file=examples/demo.yml', `--web.config.file=${bad}`, '--web.listen-address=127.0.0.1:0']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /bad-web\.yml: 2 problem\(s\)\n  tls_server_config\.cert_file: cannot read .*nope\.crt: ENOENT/);
  const missing = await runPatrol(['serve', '--config.file=examples/demo.yml', `--web.config.file=${path.join(dir, 'absent.yml')}`]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--web\.config\.file: cannot read .*absent\.yml: ENOENT/);
  const path_ = await runPatrol(['serve', '--config.file=examples/demo.yml', '--web.telemetry-path=/api/x']);
  assert.equal(path_.code, 2);
  assert.match(path_.stderr, /--web\.telemetry-path: "\/api\/x" is taken by another endpoint/);
});

test('patrol refuses what it does not support, by name', () => {
  const cases: [string, RegExp][] = [
    ['tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n', /tls_server_config\.cipher_suites: not supported/],
    ['rate_limit: { interval: 1s, burst: 1 }\n', /rate_limit: not supported/],
    ['basic_auth_user: {}\n', /basic_auth_user: unknown key \(known: tls_server_config, http_server_config, basic_auth_users\)/],
    ['tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n', /cert_file: required[\s\S]*key_file: required[\s\S]*client_ca_file: required/],
    ['tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS9\n', /min_version: expected one of TLS10, TLS11, TLS12, TLS13/],
    ['http_server_config: { http2: maybe }\n', /http2: expected true or false/],
    ['a: [\n', /not valid YAML/],
    ['- 1\n', /expected a mapping at the top level/],
  ];
  for (const [text, why] of cases) {
    const r = parseWebConfig(text, 'web.yml');
    assert.ok(!r.ok, text);
    assert.match(r.error, why);
    assert.match(r.error, /^web\.yml: /);
  }
  const empty = parseWebConfig('', 'web.yml');
  assert.ok(empty.ok && empty.config.tls === null && empty.config.users.size === 0);
});

test('HTTPS with RequireAndVerifyClientCert: no client certificate or another CA refused, ours accepted; bcrypt users are viewers; headers set', async (t) => {
  const { certs, webConfig, lines, logger } = setup(t);
  const web = await startWeb(AUTH_CONFIG, { PATROL_WEB_TOKEN: TOKEN }, undefined, { webConfig, logger });
  t.after(() => web.close());
  assert.match(web.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const good = { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey };
  const auth = basicAuth(USER, PASSWORD);

  assert.match(String(await attempt(`${web.url}/metrics`, { ca: certs.ca, auth })), /^refused: /, 'no client certificate');
  assert.match(String(await attempt(`${web.url}/metrics`, { ca: certs.ca, cert: certs.rogueCert, key: certs.rogueKey, auth })), /^refused: /, 'a certificate from another CA');
  const ok = await request(`${web.url}/metrics`, { ...good, auth });
  assert.equal(ok.status, 200);
  assert.match(ok.text, /patrol_rounds_total/);
  assert.equal(ok.headers['x-frame-options'], 'deny');
  assert.equal(ok.headers['x-content-type-options'], 'nosniff');
  assert.equal(ok.headers['strict-transport-security'], 'max-age=31536000');

  // The basic_auth_users are viewers: pages yes, admin actions no (the token is the admin).
  assert.equal((await request(`${web.url}/metrics`, good)).status, 401, 'the certificate alone is not a login');
  assert.equal((await request(`${web.url}/metrics`, { ...good, auth: basicAuth(USER, 'wrong') })).status, 401);
  assert.equal((await request(`${web.url}/metrics`, { ...good, auth: basicAuth('nobody', PASSWORD) })).status, 401);
  assert.equal((await request(`${web.url}/`, { ...good, auth })).status, 200);
  assert.equal((await request(`${web.url}/-/reload`, { ...good, auth, method: 'POST' })).status, 401);
  assert.equal((await request(`${web.url}/-/reload`, { ...good, auth: `Bearer ${TOKEN}`, method: 'POST' })).status, 200);
  assert.equal((await request(`${web.url}/-/healthy`, good)).status, 200, 'liveness needs no login (but the certificate, as every connection)');
  // A failing request is logged, without any credential.
  assert.equal((await request(`${web.url}/services/%E0%A4%A`, { ...good, auth })).status, 400);
  const log = lines.join('');
  assert.match(log, /request failed/);
  assertNoSecrets(log, 'the log', [PASSWORD, TOKEN, `${USER}:${PASSWORD}`]);
});

test('a scraper costs one bcrypt, not one per scrape', async (t) => {
  const { certs, webConfig } = setup(t);
  const web = await startWeb('', {}, undefined, { webConfig });
  t.after(() => web.close());
  const good = { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey, auth: basicAuth(USER, PASSWORD) };
  for (let i = 0; i < 20; i++) assert.equal((await request(`${web.url}/metrics`, good)).status, 200);
  assert.equal(webConfig.bcryptRuns, 1);
  // Each wrong password is checked (cached too, so repeating it costs nothing more).
  for (let i = 0; i < 3; i++) assert.equal((await request(`${web.url}/metrics`, { ...good, auth: basicAuth(USER, 'nope') })).status, 401);
  assert.equal(webConfig.bcryptRuns, 2);
  // An unknown user costs a bcrypt too (against a stand-in hash), so names cannot be told apart by time.
  assert.equal((await request(`${web.url}/metrics`, { ...good, auth: basicAuth('ghost', PASSWORD) })).status, 401);
  assert.equal(webConfig.bcryptRuns, 3);
});

test('the file is re-read on change: new connections use it; a bad new file keeps the old and is logged once', async (t) => {
  const { certs, webConfig, file, hash, lines, logger } = setup(t);
  const web = await startWeb('', {}, undefined, { webConfig, logger });
  t.after(() => web.close());
  const auth = basicAuth(USER, PASSWORD);
  assert.match(String(await attempt(`${web.url}/metrics`, { ca: certs.ca, auth })), /^refused: /);

  // Client certificates no longer asked for: the next connection without one is served.
  writeFileSync(file, webConfigText(certs, hash, 'NoClientCert'));
  assert.equal(await attempt(`${web.url}/metrics`, { ca: certs.ca, auth }), 200);
  assert.ok(lines.some((l) => l.includes('web config file re-read')));

  // A new password hash applies to the next request.
  const hash2 = bcrypt.hashSync('second-pw', 10);
  writeFileSync(file, webConfigText(certs, hash2, 'NoClientCert').replace('X-Frame-Options: deny', 'X-Frame-Options: sameorigin'));
  assert.equal(await attempt(`${web.url}/metrics`, { ca: certs.ca, auth }), 401);
  const second = await request(`${web.url}/metrics`, { ca: certs.ca, auth: basicAuth(USER, 'second-pw') });
  assert.equal(second.status, 200);
  assert.equal(second.headers['x-frame-options'], 'sameorigin');

  // A broken file: the previous settings stay, one log line says why.
  writeFileSync(file, 'tls_server_config: [\n');
  for (let i = 0; i < 3; i++) assert.equal(await attempt(`${web.url}/metrics`, { ca: certs.ca, auth: basicAuth(USER, 'second-pw') }), 200);
  const refusals = lines.filter((l) => l.includes('cannot be used; keeping the previous one'));
  assert.equal(refusals.length, 1, refusals.join(''));
  assert.match(refusals[0], /not valid YAML/);

  // Back to requiring client certificates.
  writeFileSync(file, webConfigText(certs, hash));
  assert.match(String(await attempt(`${web.url}/metrics`, { ca: certs.ca, auth })), /^refused: /);
  assert.equal(await attempt(`${web.url}/metrics`, { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey, auth }), 200);
});

test('the other client_auth_types and client_allowed_sans, connection by connection', async (t) => {
  const { certs, webConfig, file, hash } = setup(t);
  const web = await startWeb('', {}, undefined, { webConfig });
  t.after(() => web.close());
  const auth = basicAuth(USER, PASSWORD);
  const none = { ca: certs.ca, auth };
  const ours = { ...none, cert: certs.clientCert, key: certs.clientKey };
  const rogue = { ...none, cert: certs.rogueCert, key: certs.rogueKey };
  const outcome = async (o: Parameters<typeof request>[1]) => {
    const r = await attempt(`${web.url}/metrics`, o);
    return r === 200 ? 'served' : typeof r === 'string' ? 'refused' : `status ${r}`;
  };
  const expectations: [string, string, [string, string, string]][] = [
    ['RequestClientCert', '', ['served', 'served', 'served']],
    ['RequireAnyClientCert', '', ['refused', 'served', 'served']],
    ['VerifyClientCertIfGiven', '', ['served', 'served', 'refused']],
    ['RequireAndVerifyClientCert', '', ['refused', 'served', 'refused']],
    ['RequireAndVerifyClientCert', '  client_allowed_sans: [scraper]\n', ['refused', 'served', 'refused']],
    ['RequireAndVerifyClientCert', '  client_allowed_sans: [someone-else]\n', ['refused', 'refused', 'refused']],
  ];
  for (const [type, extra, [withNone, withOurs, withRogue]] of expectations) {
    writeFileSync(file, webConfigText(certs, hash, type).replace('  min_version: TLS12\n', `  min_version: TLS12\n${extra}`));
    const label = `${type} ${extra.trim()}`;
    assert.equal(await outcome(none), withNone, `${label}: no certificate`);
    assert.equal(await outcome(ours), withOurs, `${label}: our CA's certificate`);
    assert.equal(await outcome(rogue), withRogue, `${label}: another CA's certificate`);
  }
});

test('a real Prometheus scrapes over HTTPS with a client certificate and basic auth (up == 1); without the certificate up == 0', async (t) => {
  const prometheusBin = requireTool(t, 'prometheus');
  if (!prometheusBin) return;
  const { certs, webConfig, dir } = setup(t);
  const web = await startWeb('', {}, undefined, { webConfig });
  t.after(() => web.close());
  const target = new URL(web.url).host;
  const port = await freePort();
  writeFileSync(path.join(dir, 'password'), PASSWORD);
  writeFileSync(
    path.join(dir, 'prometheus.yml'),
    `global: { scrape_interval: 1s }
scrape_configs:
  - job_name: patrol
    scheme: https
    tls_config: { ca_file: ${certs.ca}, cert_file: ${certs.clientCert}, key_file: ${certs.clientKey} }
    basic_auth: { username: ${USER}, password_file: ${path.join(dir, 'password')} }
    static_configs: [{ targets: ["${target}"] }]
  - job_name: patrol_without_cert
    scheme: https
    tls_config: { ca_file: ${certs.ca} }
    basic_auth: { username: ${USER}, password_file: ${path.join(dir, 'password')} }
    static_configs: [{ targets: ["${target}"] }]
`,
  );
  const prom = spawn(prometheusBin, [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let promLog = '';
  prom.stderr!.on('data', (d: Buffer) => (promLog = (promLog + d.toString()).slice(-4000)));
  t.after(() => void prom.kill('SIGTERM'));
  const api = `http://127.0.0.1:${port}/api/v1`;
  const up = async (job: string) => {
    const body = (await (await fetch(`${api}/query?query=${encodeURIComponent(`up{job="${job}"}`)}`)).json()) as { data: { result: { value: [number, string] }[] } };
    return body.data.result[0]?.value[1];
  };
  await eventually(async () => ((await fetch(`http://127.0.0.1:${port}/-/ready`).catch(() => null))?.ok ? true : undefined), 60_000, `prometheus ready (${promLog.slice(-500)})`);
  assert.equal(await eventually(async () => ((await up('patrol')) === '1' ? '1' : undefined), 60_000, `up{job="patrol"} == 1 (${promLog.slice(-500)})`), '1');
  assert.equal(await eventually(async () => up('patrol_without_cert'), 60_000, 'a sample for the scrape without a certificate'), '0');
  // Prometheus got the exposition, not an error page: a patrol metric is in its TSDB.
  const series = (await (await fetch(`${api}/query?query=patrol_rounds_total`)).json()) as { data: { result: unknown[] } };
  assert.ok(await eventually(async () => {
    const s = (await (await fetch(`${api}/query?query=patrol_rounds_total`)).json()) as { data: { result: unknown[] } };
    return s.data.result.length > 0 ? true : undefined;
  }, 30_000, 'patrol_rounds_total scraped'), JSON.stringify(series));
});
