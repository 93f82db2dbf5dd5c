// Badges (GET /badges/:id.svg, GET /badges/:id/uptime.svg?window=...) on a real server on
// 127.0.0.1:0 over a SQLite history: the last verdict, the uptime over a window from the history,
// caching (ETag, Last-Modified, 304), 404 and 400, the pages' protection, escaping, and the SVG
// as Chromium parses it (an XML document: one unescaped name would be a parse error).
//
//   node --import tsx --test test/badges.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { chromium } from 'playwright-core';
import { parseWindow } from '../src/web/badges.js';
import { uptimeText } from '../src/present/badge.js';
import { requireTool } from './helpers/tools.js';
import { round } from './helpers/rounds.js';
import { HOSTILE, SECRET, startWeb, todaysRounds } from './helpers/web.js';

const DAY_MS = 86_400_000;

/** Today's rounds (ocr ok twice, nlp ok then a mismatch, evil ok then a failed call) and, three days ago, ocr failing. */
function history(now = Date.now()) {
  return [round(now - 3 * DAY_MS, [{ id: 'ocr', name: '文字识别', verdict: 'call_failed' }]), ...todaysRounds(now)];
}

/**
 * A GET with node:http: fetch() turns a request with If-None-Match into a `Cache-Control: no-cache`
 * one (the Fetch standard's cache mode), which a server rightly answers in full.
 */
function conditionalGet(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

test('last verdict: the service name and its verdict, cacheable, revalidated with 304', async (t) => {
  const web = await startWeb('', {}, history());
  t.after(() => web.close());
  const res = await fetch(`${web.url}/badges/nlp.svg`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/svg+xml; charset=utf-8');
  assert.equal(res.headers.get('cache-control'), 'public, max-age=60');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  const etag = res.headers.get('etag');
  const lastModified = res.headers.get('last-modified');
  assert.match(etag ?? '', /^"[\w-]+"$/);
  const latestNlp = web.rounds.at(-1)!.services.find((s) => s.serviceId === 'nlp')!;
  assert.equal(lastModified, new Date(latestNlp.finishedAt).toUTCString());
  const svg = await res.text();
  // The digest's locale (zh by default) names the verdict.
  assert.deepEqual(texts(svg), ['自然语言处理', '扣量不符']);
  assert.match(svg, /fill="#ef6c00"/, 'the metering colour');

  const again = await conditionalGet(`${web.url}/badges/nlp.svg`, { 'if-none-match': etag! });
  assert.deepEqual(again, { status: 304, body: '' });
  const since = await conditionalGet(`${web.url}/badges/nlp.svg`, { 'if-modified-since': lastModified! });
  assert.equal(since.status, 304);
  const older = await conditionalGet(`${web.url}/badges/nlp.svg`, { 'if-modified-since': new Date(latestNlp.finishedAt - 60_000).toUTCString() });
  assert.equal(older.status, 200);
  // Another service's badge is another entity.
  const ocr = await conditionalGet(`${web.url}/badges/ocr.svg`, { 'if-none-match': etag! });
  assert.equal(ocr.status, 200);
  assert.deepEqual(texts(ocr.body), ['文字识别', '正常']);
});

test('uptime: the share of ok verdicts over the window, from the history', async (t) => {
  const web = await startWeb('digest:\n  locale: en\n', {}, history());
  t.after(() => web.close());
  const badge = async (path: string) => {
    const res = await fetch(`${web.url}${path}`);
    assert.equal(res.status, 200, path);
    return texts(await res.text());
  };
  // The failure three days ago is inside 7 days (the default), not inside 1 day.
  assert.deepEqual(await badge('/badges/ocr/uptime.svg'), ['文字识别 uptime 7d', '66.6%']);
  assert.deepEqual(await badge('/badges/ocr/uptime.svg?window=7d'), ['文字识别 uptime 7d', '66.6%']);
  assert.deepEqual(await badge('/badges/ocr/uptime.svg?window=24h'), ['文字识别 uptime 24h', '100%']);
  assert.deepEqual(await badge('/badges/nlp/uptime.svg?window=1d'), ['自然语言处理 uptime 1d', '50.0%']);
  assert.deepEqual(await badge('/badges/nlp.svg'), ['自然语言处理', 'metering mismatch']);
  // A configured service that has no round in the window yet.
  const empty = await startWeb('', {}, []);
  t.after(() => empty.close());
  const none = await fetch(`${empty.url}/badges/ocr/uptime.svg?window=2h`);
  assert.equal(none.status, 200);
  assert.deepEqual(texts(await none.text()), ['文字识别 可用率 2h', '无数据']);
  const noVerdict = await fetch(`${empty.url}/badges/ocr.svg`);
  assert.equal(noVerdict.status, 200);
  assert.equal(noVerdict.headers.get('last-modified'), null);
});

test('unknown service 404, bad window 400 with the reason, other spellings are not badges', async (t) => {
  const web = await startWeb('', {}, history());
  t.after(() => web.close());
  for (const path of ['/badges/nope.svg', '/badges/nope/uptime.svg?window=7d']) {
    const res = await fetch(`${web.url}${path}`);
    assert.equal(res.status, 404, path);
    assert.equal(await res.text(), 'Not found: no such service.\n');
  }
  for (const w of ['7', '7x', '0d', '30m', '91d', '1d2h', '%3Cscript%3E', '']) {
    const res = await fetch(`${web.url}/badges/ocr/uptime.svg?window=${w}`);
    assert.equal(res.status, 400, w);
    const body = await res.text();
    assert.match(body, /^window: expected one duration from 1h to 90d such as 24h, 7d or 30d, got "/, w);
    assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
  }
  const twice = await fetch(`${web.url}/badges/ocr/uptime.svg?window=1d&window=2d`);
  assert.equal(twice.status, 400);
  for (const path of ['/badges/ocr.SVG', '/badges/ocr.svg/', '/Badges/ocr.svg', '/badges/ocr']) assert.equal((await fetch(`${web.url}${path}`)).status, 404, path);
  assert.deepEqual(parseWindow(undefined), { ok: true, ms: 7 * DAY_MS, text: '7d' });
  assert.equal(uptimeText(0.99999), '99.99%', 'never rounded up to 100 %');
  assert.equal(uptimeText(2 / 3), '66.6%');
});

test('protected like the pages: credentials needed, private caching, no hint about which services exist', async (t) => {
  const web = await startWeb('web:\n  auth:\n    basic: { username: viewer, password: "${PATROL_TEST_VIEWER_PASSWORD}" }\n    bearer_token: "${PATROL_TEST_TOKEN}"\n', { PATROL_TEST_VIEWER_PASSWORD: 'pw-1', PATROL_TEST_TOKEN: 'tok-1' }, history());
  t.after(() => web.close());
  const viewer = { authorization: `Basic ${Buffer.from('viewer:pw-1').toString('base64')}` };
  for (const path of ['/badges/ocr.svg', '/badges/ocr/uptime.svg?window=7d', '/badges/nope.svg', '/badges/ocr/uptime.svg?window=bad']) {
    const anonymous = await fetch(`${web.url}${path}`);
    assert.equal(anonymous.status, 401, path);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic /);
    const wrong = await fetch(`${web.url}${path}`, { headers: { authorization: `Basic ${Buffer.from('viewer:nope').toString('base64')}` } });
    assert.equal(wrong.status, 401, path);
  }
  const ok = await fetch(`${web.url}/badges/ocr.svg`, { headers: viewer });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('cache-control'), 'private, max-age=60');
  const admin = await fetch(`${web.url}/badges/ocr/uptime.svg`, { headers: { authorization: 'Bearer tok-1' } });
  assert.equal(admin.status, 200);
  assert.equal(admin.headers.get('cache-control'), 'private, max-age=60');
  assert.equal((await fetch(`${web.url}/badges/nope.svg`, { headers: viewer })).status, 404);
  // Every route is declared with the pages' level.
  assert.deepEqual(web.routes.filter((r) => r.path.startsWith('/badges')).map((r) => [r.path, r.access]), [['/badges/:id.svg', 'viewer'], ['/badges/:id/uptime.svg', 'viewer']]);
});

test('a hostile service name is escaped text in the SVG, which Chromium parses as one', async (t) => {
  const web = await startWeb('', {}, history());
  t.after(() => web.close());
  const res = await fetch(`${web.url}/badges/evil.svg`);
  assert.equal(res.status, 200);
  const svg = await res.text();
  assert.ok(!svg.includes('<script') && !svg.includes('<img'), svg);
  assert.ok(svg.includes('&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;'), svg);
  assert.ok(!svg.includes(SECRET));
  // The uptime badge of the same service (its name and the window in the label).
  const uptime = await (await fetch(`${web.url}/badges/evil/uptime.svg?window=1d`)).text();
  assert.ok(!uptime.includes('<script'));

  const executable = requireTool(t, 'chromium');
  if (!executable) return;
  const browser = await chromium.launch({ executablePath: executable, timeout: 120_000, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  t.after(() => browser.close());
  const page = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  page.setDefaultTimeout(10_000);
  let dialogs = 0;
  page.on('dialog', (d) => {
    dialogs++;
    void d.dismiss();
  });
  for (const path of ['/badges/evil.svg', '/badges/evil/uptime.svg?window=1d', '/badges/nlp.svg']) {
    const opened = await page.goto(`${web.url}${path}`);
    assert.equal(opened?.status(), 200, path);
    const doc = await page.evaluate(() => ({
      root: document.documentElement.namespaceURI + ' ' + document.documentElement.localName,
      errors: document.getElementsByTagName('parsererror').length,
      scripts: document.getElementsByTagName('script').length + document.getElementsByTagName('img').length,
      texts: [...document.getElementsByTagName('text')].map((e) => e.textContent),
    }));
    assert.deepEqual({ root: doc.root, errors: doc.errors, scripts: doc.scripts }, { root: 'http://www.w3.org/2000/svg svg', errors: 0, scripts: 0 }, path);
    if (path.startsWith('/badges/evil')) assert.ok(doc.texts[0]?.startsWith(HOSTILE.slice(0, 30)), JSON.stringify(doc.texts));
  }
  assert.equal(dialogs, 0);
});
