// The status page, the details page, the JSON API on the SQLite history, and the protection of
// every endpoint (web.auth) decided per route, the error answers, over real HTTP on 127.0.0.1 port 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Exporter } from '../src/exporter.js';
import type { RoundResult } from '../src/types.js';
import { dayIn } from '../src/util/time.js';
import pino from 'pino';
import { authorize } from '../src/web/auth.js';
import { PAGE_NOW, SECRET, startWeb, todaysRounds, type WebFixture } from './helpers/web.js';
import { assertNoSecrets } from './helpers/secrets.js';

const TZ = 'Asia/Shanghai';

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(url, { headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

test('the status page: the latest round in the original columns, each verdict, red rows for failures, the day, the links', async (t) => {
  const web = await startWeb();
  t.after(() => web.close());
  const page = await get(`${web.url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  const html = page.text;
  assert.match(html, /执行 3，成功 1，失败 2/);
  for (const h of ['服务名称', '今日调用量(调用前)', '今日调用量(调用后)', '扣量是否成功', '调用是否成功']) assert.ok(html.includes(`<th>${h}</th>`), h);
  const rows = [...html.matchAll(/<tr class="(\w+)" data-service="([^"]+)" data-verdict="(\w+)">/g)].map((m) => [m[1], m[2], m[3]]);
  assert.deepEqual(rows, [
    ['ok', 'ocr', 'ok'],
    ['fail', 'nlp', 'metering_mismatch'],
    ['fail', 'evil', 'call_failed'],
  ]);
  assert.match(html, /<td>101<\/td><td>102<\/td>/);
  assert.match(html, /<b>扣量不符<\/b><br><code>metering_mismatch<\/code>/);
  // The day per service and a strip of recent verdicts.
  assert.match(html, /<tr data-service="nlp"><td class="name"><a href="\/services\/nlp">自然语言处理<\/a><\/td><td>2<\/td><td>1<\/td><td>50.0%<\/td><td><svg /);
  for (const link of ['/metrics', '/api/rounds/latest', `/api/rounds?date=${dayIn(TZ, PAGE_NOW)}`, '/services/ocr']) assert.ok(html.includes(`href="${link}"`), link);
  assert.ok(!/<script/i.test(html), 'no script at all: works with JavaScript off');
  assert.ok(!/(src|href)="https?:/.test(html), 'nothing loaded from elsewhere');
});

test('the details page: last calls with status, duration, failed expectations and actual values, excerpts escaped and cut', async (t) => {
  const web = await startWeb();
  t.after(() => web.close());
  const page = await get(`${web.url}/services/evil`);
  assert.equal(page.status, 200);
  const html = page.text;
  assert.equal((html.match(/<section class="entry"/g) ?? []).length, 2, 'both of its verdicts');
  assert.match(html, /<tr class="fail"><td class="name">c1<\/td><td><code>http<\/code><\/td><td>502<\/td><td>1.250 s<\/td>/);
  assert.match(html, /<code>status<\/code>: 预期 200，实际 <b>502 &lt;script&gt;alert\(&#39;x&#39;\)&lt;\/script&gt;/);
  assert.match(html, /<summary>响应<\/summary><pre>&lt;html&gt;&lt;redacted&gt; &lt;b&gt;x&lt;\/b&gt;/);
  assert.match(html, /… \[另有 \d+ 个字符未显示\]<\/pre>/);
  assert.ok(html.length < 200_000, `a 10 MB body is cut (page is ${html.length} characters)`);
  assert.ok(!html.includes('<script>'));
  assert.ok(!html.includes('<img'));
  assertNoSecrets(html, 'the details page', [SECRET]);
  assert.match(html, /key=&lt;redacted&gt;/);

  const ocr = await get(`${web.url}/services/ocr`);
  assert.equal(ocr.status, 200);
  assert.match(ocr.text, /文字识别/);
  assert.equal((await get(`${web.url}/services/nope`)).status, 404);
  // A configured service without history yet is a page saying so, not a 404.
  web.store.db.exec('DELETE FROM rounds');
  const empty = await get(`${web.url}/services/ocr`);
  assert.equal(empty.status, 200);
  assert.match(empty.text, /此服务没有记录/);
});

test('hostile names are escaped on the status page and secrets never shown', async (t) => {
  const web = await startWeb();
  t.after(() => web.close());
  const html = (await get(`${web.url}/`)).text;
  assert.ok(!html.includes('<script>'));
  assert.ok(!html.includes('<img'));
  assert.ok(html.includes('&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'));
  assertNoSecrets(html, 'the status page', [SECRET]);
  assert.ok(html.length < 100_000);
});

test('GET /api/rounds?date= answers the day from SQLite; latest; bad dates refused', async (t) => {
  const web = await startWeb();
  t.after(() => web.close());
  const day = dayIn(TZ, web.rounds[1].startedAt);
  const res = await get(`${web.url}/api/rounds?date=${day}`);
  assert.equal(res.status, 200);
  const body = JSON.parse(res.text) as { date: string; timezone: string; rounds: RoundResult[] };
  assert.equal(body.timezone, TZ);
  assert.deepEqual(body.rounds.map((r) => r.id), web.rounds.map((r) => r.id));
  assert.deepEqual(body.rounds[1].services[1], web.rounds[1].services[1]);
  const latestText = (await get(`${web.url}/api/rounds/latest`)).text;
  const latest = JSON.parse(latestText) as RoundResult;
  assert.equal(latest.id, web.rounds[1].id);
  assertNoSecrets(res.text, 'GET /api/rounds', [SECRET]);
  assertNoSecrets(latestText, 'GET /api/rounds/latest', [SECRET]);
  assert.equal((await get(`${web.url}/api/rounds?date=2024-1-1`)).status, 400);
  assert.deepEqual(JSON.parse((await get(`${web.url}/api/rounds?date=2001-01-01`)).text).rounds, []);
});

// ---------------------------------------------------------------------------------- protection

const TOKEN = 'tok-3b1f0c9a8e7d6c5b4a39';
const BASIC_PASSWORD = 'basic-pw-7e6d5c4b';
const AUTH_CONFIG = `web:
  auth:
    bearer_token: "\${PATROL_WEB_TOKEN}"
    basic: { username: viewer, password: "\${PATROL_WEB_PASSWORD}" }
`;
const AUTH_ENV = { PATROL_WEB_TOKEN: TOKEN, PATROL_WEB_PASSWORD: BASIC_PASSWORD };
const bearer = { authorization: `Bearer ${TOKEN}` };
const basic = { authorization: `Basic ${Buffer.from(`viewer:${BASIC_PASSWORD}`).toString('base64')}` };

/** Every endpoint, with what it answers when allowed. */
const ENDPOINTS: { method: 'GET' | 'POST'; path: string; ok: number }[] = [
  { method: 'GET', path: '/', ok: 200 },
  { method: 'GET', path: '/services/ocr', ok: 200 },
  { method: 'GET', path: '/metrics', ok: 200 },
  { method: 'GET', path: '/-/ready', ok: 200 },
  { method: 'GET', path: '/api/rounds/latest', ok: 200 },
  { method: 'GET', path: '/api/rounds?date=2024-05-01', ok: 200 },
  { method: 'POST', path: '/-/reload', ok: 200 },
  { method: 'POST', path: '/api/rounds', ok: 202 },
];

async function call_(web: WebFixture, e: { method: string; path: string }, headers: Record<string, string> = {}) {
  const res = await fetch(`${web.url}${e.path}`, { method: e.method, headers });
  const text = await res.text();
  // A round started by POST /api/rounds must end before the next one (and before the test ends).
  if (e.method === 'POST' && e.path === '/api/rounds' && res.status === 202) await waitIdle(web.exporter);
  return { status: res.status, text, challenge: res.headers.get('www-authenticate') };
}

async function waitIdle(exporter: Exporter): Promise<void> {
  const end = Date.now() + 60_000;
  for (let i = 0; i < 6000 && exporter.busy && Date.now() < end; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(!exporter.busy, 'the round ended');
}

test('with a token configured, every endpoint answers 401 without it and 200 with it; /-/healthy stays open', async (t) => {
  const web = await startWeb(AUTH_CONFIG, AUTH_ENV);
  t.after(() => web.close());
  for (const e of [...ENDPOINTS, { method: 'GET', path: '/no/such/page', ok: 404 }]) {
    const none = await call_(web, e);
    assert.equal(none.status, 401, `${e.method} ${e.path} without credentials`);
    assert.match(none.challenge ?? '', /^(Basic|Bearer) realm="patrol_exporter"/);
    const wrong = await call_(web, e, { authorization: `Bearer ${TOKEN}x` });
    assert.equal(wrong.status, 401, `${e.method} ${e.path} with a wrong token`);
    const ok = await call_(web, e, bearer);
    assert.equal(ok.status, e.ok, `${e.method} ${e.path} with the token`);
    for (const r of [none, wrong, ok]) assertNoSecrets(r.text, `${e.method} ${e.path}`, [TOKEN, BASIC_PASSWORD]);
  }
  assert.equal((await call_(web, { method: 'GET', path: '/-/healthy' })).status, 200);
});

test('basic auth opens the pages but not the admin actions when a token is set', async (t) => {
  const web = await startWeb(AUTH_CONFIG, AUTH_ENV);
  t.after(() => web.close());
  for (const e of ENDPOINTS) {
    const r = await call_(web, e, basic);
    const admin = e.method === 'POST';
    assert.equal(r.status, admin ? 401 : e.ok, `${e.method} ${e.path} with basic auth`);
    if (admin) assert.match(r.challenge ?? '', /^Bearer/);
  }
  const badPassword = { authorization: `Basic ${Buffer.from('viewer:nope').toString('base64')}` };
  assert.equal((await call_(web, ENDPOINTS[0], badPassword)).status, 401);
  // A browser gets a Basic challenge, so it can ask for a login.
  assert.match((await call_(web, ENDPOINTS[0])).challenge ?? '', /^Basic realm="patrol_exporter", charset="UTF-8"$/);
});

/** The spellings of a path that must not reach a route under another rule. */
function variants(path: string): string[] {
  const out = new Set<string>([`${path}/`, path.toUpperCase(), path.replace(/\/(\w)/, (_m, c: string) => `/${c.toUpperCase()}`), path.replace(/([a-z])/, (c) => `%${c.charCodeAt(0).toString(16)}`), `/${path}`, `${path}%2f`, `${path}/.`]);
  out.delete(path);
  return [...out];
}

const CREDENTIALS: { name: string; caller: 'anonymous' | 'viewer' | 'admin'; headers: Record<string, string> }[] = [
  { name: 'none', caller: 'anonymous', headers: {} },
  { name: 'viewer basic', caller: 'viewer', headers: basic },
  { name: 'wrong token', caller: 'anonymous', headers: { authorization: `Bearer ${TOKEN}x` } },
  { name: 'wrong basic password', caller: 'anonymous', headers: { authorization: `Basic ${Buffer.from('viewer:x').toString('base64')}` } },
  { name: 'admin token', caller: 'admin', headers: bearer },
];

test('every route x every credential x every spelling of its path: only the declared level decides', async (t) => {
  const web = await startWeb(AUTH_CONFIG, AUTH_ENV);
  t.after(() => web.close());
  const levels = Object.fromEntries(web.routes.map((r) => [`${r.method.toUpperCase()} ${r.path}`, r.access]));
  // The declared levels are the contract; a new route must be added here, on purpose.
  assert.deepEqual(levels, {
    'GET /metrics': 'scrape',
    'GET /-/healthy': 'public',
    'GET /-/ready': 'viewer',
    'POST /-/reload': 'admin',
    'GET /api/rounds/latest': 'viewer',
    'GET /api/rounds': 'viewer',
    'POST /api/rounds': 'admin',
    'GET /': 'viewer',
    'GET /services/:id': 'viewer',
    'GET /api/maintenance': 'viewer',
    'POST /api/maintenance': 'admin',
    'DELETE /api/maintenance/:id': 'admin',
    'GET /badges/:id.svg': 'viewer',
    'GET /badges/:id/uptime.svg': 'viewer',
  });
  let checked = 0;
  for (const route of web.routes) {
    const path = route.path.replace(':id', 'ocr') + (route.path === '/api/rounds' && route.method === 'get' ? '?date=2024-05-01' : '');
    const methods = route.method === 'get' ? ['GET', 'HEAD'] : [route.method.toUpperCase()];
    // Creating and cancelling a window need a body and an existing id: the guard let the caller through when the answer is not 401.
    const passed = (status: number) => (route.path.startsWith('/api/maintenance') && route.method !== 'get' ? status === 400 || status === 404 : status >= 200 && status < 300);
    for (const method of methods) {
      for (const c of CREDENTIALS) {
        const allowed = route.access === 'public' || (route.access === 'admin' ? c.caller === 'admin' : c.caller !== 'anonymous');
        const r = await call_(web, { method, path }, c.headers);
        if (allowed) assert.ok(passed(r.status), `${method} ${path} as ${c.name}: ${r.status}`);
        else assert.equal(r.status, 401, `${method} ${path} as ${c.name}`);
        checked++;
        const [bare, query] = path.split('?');
        for (const v of variants(bare)) {
          const vr = await call_(web, { method, path: query ? `${v}?${query}` : v }, c.headers);
          // Another spelling is no route at all: 404 for a caller who may see pages, 401 for a stranger.
          // Except an encoded slash at the end of an :id: that is the same route with another id, so its own level decides.
          const sameRoute = route.path.endsWith(':id') && v === `${bare}%2f`;
          const expected = c.caller === 'anonymous' || (sameRoute && !allowed) ? [401] : [404, 400];
          assert.ok(expected.includes(vr.status), `${method} ${v} as ${c.name}: ${vr.status}, expected ${expected}`);
          checked++;
        }
      }
    }
  }
  assert.ok(checked > 300, `${checked} requests`);
  assert.ok(!web.exporter.busy);
});

test('methods no route has are refused like unknown paths; errors show no stack, no paths', async (t) => {
  const web = await startWeb(AUTH_CONFIG, AUTH_ENV);
  t.after(() => web.close());
  for (const method of ['PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    assert.equal((await call_(web, { method, path: '/api/rounds' })).status, 401, `${method} as a stranger`);
    const r = await call_(web, { method, path: '/api/rounds' }, bearer);
    assert.ok(r.status === 404, `${method} with the token: ${r.status}`);
  }
  const open = await startWeb();
  t.after(() => open.close());
  for (const path of ['/services/%E0%A4%A', '/services/%', '/services/%ZZ']) {
    const r = await call_(open, { method: 'GET', path });
    assert.equal(r.status, 400, path);
    assert.equal(r.text, 'Bad request.\n');
    assert.ok(!/\bat \w|\/work\/|node_modules|Error/.test(r.text), `no stack: ${r.text}`);
  }
  for (const date of ['2024-02-30', '2023-02-29', '2024-13-01', '2024-00-10', '2024-04-31', '2024-1-1', '']) {
    const r = await call_(open, { method: 'GET', path: `/api/rounds?date=${date}` });
    assert.equal(r.status, 400, date);
  }
  assert.equal((await call_(open, { method: 'GET', path: '/api/rounds?date=2024-02-29' })).status, 200, 'a leap day exists');
  assert.equal((await call_(open, { method: 'GET', path: '/api/rounds?date=2024-05-01&date=2024-05-02' })).status, 400, 'two dates');
});

test('the error details go to the log, not to the client', async (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
  const web = await startWeb('', {}, todaysRounds(), { logger });
  t.after(() => web.close());
  const r = await call_(web, { method: 'GET', path: '/services/%E0%A4%A' });
  assert.equal(r.status, 400);
  assert.ok(lines.some((l) => l.includes('request failed') && l.includes('URIError')), lines.join(''));
});

test('web.metrics_auth: none leaves /metrics open for scrapers, everything else protected', async (t) => {
  const web = await startWeb(`${AUTH_CONFIG}  metrics_auth: none\n`, AUTH_ENV);
  t.after(() => web.close());
  assert.equal((await call_(web, { method: 'GET', path: '/metrics' })).status, 200);
  assert.equal((await call_(web, { method: 'GET', path: '/' })).status, 401);
  assert.equal((await call_(web, { method: 'POST', path: '/api/rounds' })).status, 401);
});

test('without web.auth everything is open (the default)', async (t) => {
  const web = await startWeb();
  t.after(() => web.close());
  for (const e of ENDPOINTS) assert.equal((await call_(web, e)).status, e.ok, `${e.method} ${e.path}`);
});

test('the access rules, one by one', async () => {
  const web = { auth: { bearer_token: 'only-a-token-here' }, metrics_auth: 'same' as const };
  assert.equal((await authorize({ web }, 'viewer', 'Bearer only-a-token-here')).ok, true);
  assert.equal((await authorize({ web }, 'viewer', 'bearer only-a-token-here')).ok, true, 'the scheme is case-insensitive');
  assert.equal((await authorize({ web }, 'viewer', 'Basic Zm9vOmJhcg==')).ok, false);
  assert.equal((await authorize({ web }, 'public', undefined)).ok, true);
  assert.equal((await authorize({ web }, 'scrape', undefined)).ok, false);
  assert.equal((await authorize({ web: { ...web, metrics_auth: 'none' } }, 'scrape', undefined)).ok, true);
  assert.equal((await authorize({ web: { auth: { bearer_token: '' }, metrics_auth: 'same' } }, 'admin', undefined)).ok, true, 'an empty token means no protection');
  // Basic only: the admin actions take the basic credentials.
  const basicOnly = { auth: { bearer_token: '', basic: { username: 'u', password: 'p' } }, metrics_auth: 'same' as const };
  assert.equal((await authorize({ web: basicOnly }, 'admin', `Basic ${Buffer.from('u:p').toString('base64')}`)).ok, true);
  assert.equal((await authorize({ web: basicOnly }, 'admin', undefined)).ok, false);
  assert.equal((await authorize({ web: basicOnly }, 'admin', 'Bearer p')).ok, false);
});

test('stores without SQL (run-once\'s memory store) get the same page figures from their rounds', async () => {
  const { MemoryStore } = await import('../src/store/memory.js');
  const { statusPage } = await import('../src/web/status.js');
  const { todaysRounds } = await import('./helpers/web.js');
  const store = new MemoryStore();
  const rounds = todaysRounds();
  for (const r of rounds) store.save(r);
  const services = store.overview(dayIn(TZ, PAGE_NOW), TZ, rounds.length);
  assert.deepEqual(services.map((s) => [s.serviceId, s.roundsToday, s.okToday, s.recent.length]), [['ocr', 2, 2, 2], ['nlp', 2, 1, 2], ['evil', 2, 1, 2]]);
  const html = statusPage(store.latest(), null, { timezone: TZ, services, now: PAGE_NOW });
  assert.match(html, /<tr data-service="nlp"><td class="name"><a href="\/services\/nlp">自然语言处理<\/a><\/td><td>2<\/td><td>1<\/td><td>50.0%<\/td>/);
});
