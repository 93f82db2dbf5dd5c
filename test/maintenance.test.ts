// Maintenance windows (docs/maintenance.md): the config section, when a recurring window is open,
// the API (access, validation, a real history file kept across a restart), a real round against the
// simulated platform with one service inside a window (no request reaches the platform for it, its
// verdict is maintenance, the gauge is 1, its counters do not move), and what the pages and the
// digest make of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { occurrenceOf } from '../src/engine/maintenance.js';
import { failureStreak } from '../src/engine/verdict.js';
import { Exporter } from '../src/exporter.js';
import { Maintenance } from '../src/maintenance.js';
import { SqliteMaintenance } from '../src/store/maintenance.js';
import { PatrolMetrics } from '../src/metrics.js';
import { Redactor } from '../src/redact.js';
import { startSimulator, type Simulator } from '../src/sim/platform.js';
import { MemoryStore } from '../src/store/memory.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { buildDigest, queryDigest } from '../src/digest/query.js';
import { digestMessage } from '../src/digest/mailer.js';
import { statusPage } from '../src/web/status.js';
import { servicePage } from '../src/web/details.js';
import { createApp, listen } from '../src/web/server.js';
import type { RoundResult } from '../src/types.js';
import { dayIn } from '../src/util/time.js';
import { nlpService, ocrConfig, silentLogger } from './helpers/harness.js';
import { parseMetrics, runPatrol, sample } from './helpers/process.js';
import { assertNoSecrets } from './helpers/secrets.js';

const SECRET = 'maint-secret-4b3a2c1d';
const TOKEN = 'admin-token-for-maintenance-tests';

/** ocr (from the harness) and nlp, both against the simulator; `tail` is appended at the top level. */
function twoServices(tail = ''): string {
  return `${ocrConfig()}${nlpService()}${tail}`;
}

/** A window open at any time: starts every minute, lasts an hour. */
const ALWAYS = (services: string, reason = 'platform upgrade') => `maintenance:
  - cron: "* * * * *"
    duration: 1h
    services: ${services}
    reason: "${reason}"
`;

function problemsOf(text: string): { path: string; message: string }[] {
  try {
    parseConfig(text, 'test.yml', { vars: { platform_url: 'http://127.0.0.1:1' } });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => ({ path: p.path, message: p.message }));
  }
  return [];
}

test('config: windows for all or some services, defaults, and every bad value refused at its path', () => {
  const loaded = parseConfig(
    twoServices(`maintenance:
  - cron: "0 2 * * 0"
    duration: 2h
  - cron: "*/30 * * * * *"
    duration: 90
    services: [nlp]
    reason: weekly upgrade
`),
    'test.yml',
  );
  assert.deepEqual(loaded.config.maintenance, [
    { cron: '0 2 * * 0', duration: 7_200_000, services: 'all', reason: '' },
    { cron: '*/30 * * * * *', duration: 90_000, services: ['nlp'], reason: 'weekly upgrade' },
  ]);
  assert.deepEqual(parseConfig(ocrConfig(), 'test.yml').config.maintenance, [], 'none by default');

  const bad = problemsOf(
    twoServices(`maintenance:
  - cron: "61 * * * *"
    duration: 2h
  - cron: "0 2 * * *"
    duration: 30s
  - cron: "0 2 * * *"
    duration: 8d
  - cron: "0 2 * * *"
    duration: 1h
    services: [ocr]
  - cron: "0 2 * * *"
    duration: 1h
    services: []
  - cron: "0 2 * * *"
    duration: 1h
    reason: "${'x'.repeat(501)}"
  - cron: "0 2 * * *"
    duration: 1h
    until: tomorrow
  - duration: 1h
`),
  );
  assert.deepEqual(
    bad.map((p) => p.path),
    ['maintenance[0].cron', 'maintenance[1].duration', 'maintenance[2].duration', 'maintenance[4].services', 'maintenance[5].reason', 'maintenance[6].until', 'maintenance[7].cron'],
    JSON.stringify(bad),
  );
  const byPath = new Map(bad.map((p) => [p.path, p.message]));
  assert.match(byPath.get('maintenance[0].cron')!, /invalid cron expression "61 \* \* \* \*"/);
  assert.match(byPath.get('maintenance[1].duration')!, /too short: at least 1m/);
  assert.match(byPath.get('maintenance[2].duration')!, /too long: at most 7d/);
  assert.match(byPath.get('maintenance[6].until')!, /unknown key/);
  // References to services are checked once the file is otherwise valid, each at its path.
  assert.deepEqual(problemsOf(twoServices('maintenance:\n  - { cron: "0 2 * * *", duration: 1h, services: [ocr, nope] }\n  - { cron: "0 3 * * *", duration: 1h, services: [ghost] }\n')), [
    { path: 'maintenance[0].services[1]', message: 'unknown service "nope"' },
    { path: 'maintenance[1].services[0]', message: 'unknown service "ghost"' },
  ]);
});

test('a recurring window: open from each start for its duration, in the config timezone; overlapping starts are one window', () => {
  // 02:00 every day in Asia/Shanghai (UTC+8) is 18:00 UTC the day before.
  const entry = { cron: '0 2 * * *', duration: 2 * 3_600_000, services: 'all' as const, reason: '' };
  const at = (iso: string) => Date.parse(iso);
  const open = occurrenceOf(entry, 0, 'Asia/Shanghai', at('2026-01-10T19:00:00Z'));
  assert.equal(new Date(open.start).toISOString(), '2026-01-10T18:00:00.000Z');
  assert.equal(new Date(open.end).toISOString(), '2026-01-10T20:00:00.000Z');
  // At its very start it is open; at its end it is closed and the next one is listed.
  assert.equal(occurrenceOf(entry, 0, 'Asia/Shanghai', at('2026-01-10T18:00:00Z')).start, at('2026-01-10T18:00:00Z'));
  const next = occurrenceOf(entry, 0, 'Asia/Shanghai', at('2026-01-10T20:00:00Z'));
  assert.equal(new Date(next.start).toISOString(), '2026-01-11T18:00:00.000Z');
  // The same expression in UTC starts eight hours later.
  assert.equal(new Date(occurrenceOf(entry, 0, 'UTC', at('2026-01-10T19:00:00Z')).start).toISOString(), '2026-01-11T02:00:00.000Z');
  // Every 30 minutes for 45 minutes: the windows overlap, so it is open without a gap (bounded fold).
  const chained = occurrenceOf({ ...entry, cron: '*/30 * * * *', duration: 45 * 60_000 }, 1, 'UTC', at('2026-01-10T10:40:00Z'));
  assert.equal(new Date(chained.start).toISOString(), '2026-01-10T10:00:00.000Z');
  assert.ok(chained.end - chained.start > 24 * 3_600_000, `folded: ${new Date(chained.end).toISOString()}`);
  // Every hour for 10 minutes: separate windows.
  const apart = occurrenceOf({ ...entry, cron: '0 * * * *', duration: 10 * 60_000 }, 2, 'UTC', at('2026-01-10T10:05:00Z'));
  assert.deepEqual([apart.start, apart.end], [at('2026-01-10T10:00:00Z'), at('2026-01-10T10:10:00Z')]);
});

test('the failure streak neither grows nor resets across maintenance verdicts', () => {
  assert.equal(failureStreak(3, 'maintenance'), 3);
  assert.equal(failureStreak(0, 'maintenance'), 0);
  assert.equal([3, 'call_failed', 'maintenance', 'maintenance', 'call_failed'].slice(1).reduce((n, v) => failureStreak(n as number, v as 'call_failed'), 3), 5);
});

interface Rig {
  sim: Simulator;
  exporter: Exporter;
  metrics: PatrolMetrics;
  store: SqliteStore;
  close(): Promise<void>;
}

async function rig(text: string, file: string, roundsInWorker = false): Promise<Rig> {
  const sim = await startSimulator({ lagMs: 0 });
  const store = new SqliteStore(file);
  const metrics = new PatrolMetrics(new Registry(), 'test');
  const redactor = new Redactor([SECRET]);
  const exporter = new Exporter({ configText: () => text, loadOptions: { vars: { platform_url: sim.url } }, logger: silentLogger, metrics, store, redactor, roundsInWorker });
  await exporter.start(false);
  return {
    sim,
    exporter,
    metrics,
    store,
    close: async () => {
      await exporter.stop();
      await sim.close();
    },
  };
}

for (const inWorker of [false, true]) {
  test(`a real round with nlp inside a window (${inWorker ? 'rounds in the worker thread, which saves the history' : 'rounds in this thread'}): no request for it, verdict maintenance, gauge 1, counters unchanged`, async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'patrol-maint-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const r = await rig(twoServices(ALWAYS('[nlp]', `upgrade ${SECRET}`)), path.join(dir, 'h.db'), inWorker);
    t.after(() => r.close());
    const round = await r.exporter.runRound('api')!;
    assert.deepEqual(round.services.map((s) => [s.serviceId, s.verdict]), [['ocr', 'ok'], ['nlp', 'maintenance']], 'config order, nlp not inspected');
    const stats = r.sim.stats();
    assert.equal(stats.calls.nlp, 0, 'no call reached the platform for nlp');
    assert.ok(stats.calls.ocr >= 1, 'ocr was called');
    // One counter read per settle poll and the first read, all for ocr (both use one app id, but
    // their counters differ by service): nlp's counter was never read.
    const nlp = round.services[1];
    assert.equal(nlp.before, null);
    assert.equal(nlp.calls.length, 0);
    assert.match(nlp.reason, /^maintenance window until \d{4}-\d{2}-\d{2} \d{2}:\d{2}/);
    assert.ok(!nlp.reason.includes(SECRET), 'the reason is redacted');

    const text = await r.metrics.exposition(false);
    const m = parseMetrics(text);
    assert.equal(sample(m, 'patrol_service_maintenance', { service_id: 'nlp' }), 1);
    assert.equal(sample(m, 'patrol_service_maintenance', { service_id: 'ocr' }), 0);
    // No value of a round that did not inspect it; its counters and streak unchanged.
    for (const name of ['patrol_service_success', 'patrol_call_success', 'patrol_count_query_success', 'patrol_metering_expected_delta']) {
      assert.equal(sample(m, name, { service_id: 'nlp' }), undefined, `${name} has no sample for nlp`);
      assert.equal(sample(m, name, { service_id: 'ocr' }) !== undefined, true, `${name} for ocr`);
    }
    assert.equal(sample(m, 'patrol_calls_total', { service_id: 'nlp' }), 0);
    assert.equal(sample(m, 'patrol_call_failures_total', { service_id: 'nlp' }), 0);
    assert.equal(sample(m, 'patrol_metering_checks_total', { service_id: 'nlp' }), 0);
    assert.equal(sample(m, 'patrol_service_consecutive_failures', { service_id: 'nlp' }), 0);
    assert.equal(sample(m, 'patrol_round_failures_total'), 0, 'not a failed round');
    assert.equal(sample(m, 'patrol_rounds_total'), 1);
    assertNoSecrets(text, '/metrics', [SECRET]);

    // Saved in the history as it was (the worker saves it itself when rounds run there).
    const saved = r.store.latest()!;
    assert.equal(saved.id, round.id);
    assert.deepEqual(saved.services.map((s) => s.verdict), ['ok', 'maintenance']);
    const day = dayIn('Asia/Shanghai', round.startedAt);
    const digest = queryDigest(r.store, day, 'Asia/Shanghai');
    assert.equal(digest.failedRounds, 0);
    const nlpDay = digest.services.find((s) => s.serviceId === 'nlp')!;
    assert.equal(nlpDay.rounds, 0, 'not a judged round');
    assert.equal(nlpDay.successRatio, null);
    assert.equal(nlpDay.hours.reduce((n, h) => n + (h.maintenance ?? 0), 0), 1, 'the strip counts it as maintenance');
  });
}

test('after the window the service is inspected again; the last read before the window stays the reference for usage between rounds', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-maint-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = await rig(twoServices(), path.join(dir, 'h.db'));
  t.after(() => r.close());
  const first = await r.exporter.runRound('api')!;
  assert.deepEqual(first.services.map((s) => s.verdict), ['ok', 'ok']);
  // A window for nlp through the API, from now for an hour; the next round does not inspect it.
  const w = r.exporter.maintenance.add({ services: ['nlp'], start: Date.now(), end: Date.now() + 3_600_000, reason: '' }, Date.now());
  const during = await r.exporter.runRound('api')!;
  assert.deepEqual(during.services.map((s) => s.verdict), ['ok', 'maintenance']);
  const callsDuring = r.sim.stats().calls.nlp;
  assert.equal(callsDuring, 1, 'only the first round called nlp');
  assert.equal(r.exporter.maintenance.cancel(w.id, Date.now()), true);
  const after = await r.exporter.runRound('api')!;
  assert.deepEqual(after.services.map((s) => s.verdict), ['ok', 'ok']);
  const nlp = after.services[1];
  // Compared with the read of the first round: nothing moved meanwhile, so nothing is unexplained.
  assert.equal(nlp.unexplained?.units, 0);
  assert.equal(nlp.unexplained?.since.at, (first.services[1].after as { at: number }).at);

  // Usage during a window is not hidden: a call someone else makes with the app id while nlp is in
  // maintenance is reported by the first round after the window.
  const w2 = r.exporter.maintenance.add({ services: ['nlp'], start: Date.now(), end: Date.now() + 3_600_000, reason: '' }, Date.now());
  assert.equal((await r.exporter.runRound('api'))!.services[1].verdict, 'maintenance');
  const other = await fetch(`${r.sim.url}/v1/nlp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-appid': '5f3a9c01', 'x-api-key': 'demo-api-key-0001' }, body: JSON.stringify({ text: 'someone else' }) });
  assert.equal(other.status, 200);
  r.exporter.maintenance.cancel(w2.id, Date.now());
  const found = (await r.exporter.runRound('api'))!.services[1];
  assert.equal(found.verdict, 'ok');
  assert.equal(found.unexplained?.kind, 'unexplained');
  assert.equal(found.unexplained?.units, 1);
  const m = parseMetrics(await r.metrics.exposition(false));
  assert.equal(sample(m, 'patrol_service_maintenance', { service_id: 'nlp' }), 0);
  assert.equal(sample(m, 'patrol_service_success', { service_id: 'nlp' }), 1);
});

test('a failing service keeps its failure streak through a window and counts on after it', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-maint-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = await rig(twoServices(), path.join(dir, 'h.db'));
  t.after(() => r.close());
  r.sim.setFaults('nlp', { error5xx: true });
  await r.exporter.runRound('api');
  const streak = () => r.metrics.failureStreak('nlp');
  assert.equal(streak(), 1);
  const w = r.exporter.maintenance.add({ services: 'all', start: Date.now(), end: Date.now() + 60_000, reason: '' }, Date.now());
  const during = await r.exporter.runRound('api')!;
  assert.deepEqual(during.services.map((s) => s.verdict), ['maintenance', 'maintenance']);
  assert.equal(streak(), 1, 'unchanged during the window');
  const m = parseMetrics(await r.metrics.exposition(false));
  assert.equal(sample(m, 'patrol_round_failures_total'), 1, 'only the round before the window failed');
  r.exporter.maintenance.cancel(w.id, Date.now());
  await r.exporter.runRound('api');
  assert.equal(streak(), 2, 'counted on after the window');
  // The streak read back from the history at a restart agrees.
  assert.equal(r.store.failureStreaks(['nlp']).get('nlp'), 2);
});

async function startApi(file: string, text: string): Promise<{ url: string; exporter: Exporter; close(): Promise<void> }> {
  const store = new SqliteStore(file);
  const metrics = new PatrolMetrics(new Registry(), 'test');
  const redactor = new Redactor([SECRET]);
  const exporter = new Exporter({ configText: () => text, loadOptions: { env: { TOKEN } }, logger: silentLogger, metrics, store, redactor });
  await exporter.start(false);
  const { server, url } = await listen(createApp({ exporter, metrics, store, logger: silentLogger, redactor }), '127.0.0.1:0');
  return {
    url,
    exporter,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await exporter.stop();
    },
  };
}

const AUTH = `web:
  auth:
    bearer_token: "\${TOKEN}"
    basic: { username: viewer, password: viewer-password }
`;
const admin = { authorization: `Bearer ${TOKEN}` };
const viewer = { authorization: `Basic ${Buffer.from('viewer:viewer-password').toString('base64')}` };

async function post(url: string, body: unknown, headers: Record<string, string> = admin): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/maintenance`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: /json/.test(res.headers.get('content-type') ?? '') ? (JSON.parse(text) as Record<string, unknown>) : { text } };
}

test('the API: admin creates and cancels, a viewer lists; bad input is a 400 naming the field; windows survive a restart', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-maint-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'history.db');
  const text = twoServices(`${AUTH}maintenance:\n  - cron: "0 2 * * 0"\n    duration: 2h\n    services: [ocr]\n    reason: weekly\n`);
  let api = await startApi(file, text);
  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  const good = { services: ['nlp'], start: iso(now - 1000), end: iso(now + 3_600_000), reason: `db upgrade <b>now</b> ${SECRET}` };

  // Access: create needs the token; a viewer may list.
  assert.equal((await post(api.url, good, {})).status, 401);
  assert.equal((await post(api.url, good, viewer)).status, 401);
  assert.equal((await fetch(`${api.url}/api/maintenance`)).status, 401);
  assert.equal((await fetch(`${api.url}/api/maintenance`, { headers: viewer })).status, 200);

  // Validation: the first problem, named by its field.
  const cases: [unknown, RegExp][] = [
    ['not json', /^body: not valid JSON/],
    [JSON.stringify({ ...good, reason: 'x'.repeat(20_000) }), /^body: larger than 16384 bytes/],
    [[1], /^body: expected a JSON object/],
    [{ ...good, services: ['nlp', 'nope'] }, /^services\[1\]: unknown service/],
    [{ ...good, services: [] }, /^services: expected "all" or a list/],
    [{ ...good, services: 'some' }, /^services: /],
    [{ ...good, end: iso(now - 2000) }, /^end: must be after start/],
    [{ ...good, end: good.start }, /^end: must be after start/],
    [{ ...good, start: iso(now - 7_200_000), end: iso(now - 3_600_000) }, /^end: already past/],
    [{ ...good, end: '2026-01-01 10:00' }, /^end: expected a time as RFC 3339/],
    [{ ...good, start: '2026-01-01T10:00:00' }, /^start: expected a time as RFC 3339 with an offset/],
    [{ ...good, end: undefined }, /^end: /],
    [{ ...good, reason: 7 }, /^reason: expected text/],
    [{ ...good, reason: 'x'.repeat(501) }, /^reason: at most 500/],
    [{ ...good, end: iso(now + 40 * 86_400_000) }, /^end: a window lasts at most 31 days/],
    [{ ...good, extra: 1 }, /^extra: unknown field/],
  ];
  for (const [body, error] of cases) {
    const r = await post(api.url, body);
    assert.equal(r.status, 400, JSON.stringify(body)?.slice(0, 100));
    assert.match(String(r.json.error), error, JSON.stringify(body)?.slice(0, 100));
  }
  const wrongType = await fetch(`${api.url}/api/maintenance`, { method: 'POST', headers: admin, body: JSON.stringify(good) });
  assert.equal(wrongType.status, 400);

  // Created: listed with the config window's next occurrence; the reason redacted.
  const created = await post(api.url, good);
  assert.equal(created.status, 201);
  const id = String(created.json.id);
  assert.equal(created.json.active, true);
  assert.ok(!JSON.stringify(created.json).includes(SECRET));
  const second = await post(api.url, { services: 'all', start: iso(now + 86_400_000), end: iso(now + 90_000_000) });
  assert.equal(second.status, 201);
  const list = async () => (await (await fetch(`${api.url}/api/maintenance`, { headers: viewer })).json()) as { windows: { id: string; source: string; services: unknown; active: boolean; reason: string }[] };
  const listed = await list();
  assert.deepEqual(listed.windows.map((w) => [w.source, w.active]).sort(), [['api', false], ['api', true], ['config', false]]);
  const apiWindow = listed.windows.find((w) => w.id === id)!;
  assert.deepEqual(apiWindow.services, ['nlp']);
  assert.equal(apiWindow.reason, 'db upgrade <b>now</b> <redacted>');
  assert.equal(listed.windows.find((w) => w.source === 'config')!.reason, 'weekly');

  // The gauge follows at once, without a round.
  const scrape = async () => parseMetrics(await (await fetch(`${api.url}/metrics`, { headers: viewer })).text());
  assert.equal(sample(await scrape(), 'patrol_service_maintenance', { service_id: 'nlp' }), 1);
  assert.equal(sample(await scrape(), 'patrol_service_maintenance', { service_id: 'ocr' }), 0);

  // The status page shows the verdict of a round inside it, the reason escaped and redacted.
  const round = await api.exporter.runRound('api')!;
  assert.equal(round.services.find((s) => s.serviceId === 'nlp')!.verdict, 'maintenance');
  const page = await (await fetch(`${api.url}/`, { headers: viewer })).text();
  assert.match(page, /data-service="nlp" data-verdict="maintenance"/);
  assert.match(page, /<b>维护中<\/b><br><code>maintenance<\/code>/);
  assert.ok(page.includes('db upgrade &lt;b&gt;now&lt;/b&gt; &lt;redacted&gt;'), 'the reason, escaped');
  assertNoSecrets(page, 'the status page', [SECRET]);
  // The windows themselves: the open API window first (marked), the config window's next occurrence, the planned one.
  const windowRows = [...page.matchAll(/<tr class="(\w*)" data-window="([^"]+)" data-active="(\w+)"><td>([^<]*)<\/td>/g)].map((m) => [m[3], m[4]]);
  assert.equal(windowRows.length, 3);
  assert.deepEqual(windowRows[0], ['true', 'nlp']);
  assert.deepEqual(windowRows.slice(1).map((r) => r.join(' ')).sort(), ['false ocr', 'false 全部服务'].sort());
  assert.match(page, /<h2>维护窗口 <small>\(Asia\/Shanghai\)<\/small><\/h2>/);
  const details = await (await fetch(`${api.url}/services/nlp`, { headers: viewer })).text();
  assert.match(details, /<section class="entry" data-verdict="maintenance">/);

  // A restart on the same file keeps both API windows.
  await api.close();
  api = await startApi(file, text);
  t.after(() => api.close());
  assert.deepEqual((await list()).windows.filter((w) => w.source === 'api').map((w) => w.id).includes(id), true);
  assert.equal(sample(await scrape(), 'patrol_service_maintenance', { service_id: 'nlp' }), 1, 'still in its window after the restart');

  // Cancel: the viewer may not; the admin does; again is a 404; a config window cannot be.
  const del = (wid: string, headers = admin) => fetch(`${api.url}/api/maintenance/${encodeURIComponent(wid)}`, { method: 'DELETE', headers });
  assert.equal((await del(id, viewer)).status, 401);
  assert.equal((await del(id)).status, 204);
  assert.equal((await del(id)).status, 404);
  const configId = (await list()).windows.find((w) => w.source === 'config')!.id;
  assert.equal((await del(configId)).status, 409);
  assert.equal((await list()).windows.filter((w) => w.source === 'api').length, 1);
  assert.equal(sample(await scrape(), 'patrol_service_maintenance', { service_id: 'nlp' }), 0, 'cancelled: out of maintenance at once');
});

test('the digest and the email show maintenance apart from failures', () => {
  const day = '2026-01-10';
  const at = Date.parse('2026-01-10T04:00:00Z');
  const ok = (id: string, t: number): RoundResult['services'][number] => ({
    serviceId: id, name: id, appId: 'a', verdict: 'ok', reason: '', startedAt: t, finishedAt: t + 1000,
    before: { ok: true, value: 1, at: t, day }, after: { ok: true, value: 2, at: t + 900, day }, delta: 1, expectedDelta: 1, meteringMode: 'exact',
    meteringOk: true, callOk: true, authOk: null, countQueryOk: true, settleSeconds: 0.5,
    calls: [{ name: 'c', kind: 'http', ok: true, durationSeconds: 0.1, reason: '', failures: [], units: 1, extracted: {} }], authChecks: [],
  });
  const maint = (id: string, t: number): RoundResult['services'][number] => ({
    ...ok(id, t), verdict: 'maintenance', reason: 'maintenance window until 2026-01-10 14:00 (UTC): upgrade', before: null, after: null, delta: null, expectedDelta: 0,
    meteringOk: null, settleSeconds: null, calls: [],
  });
  const round = (t: number, services: RoundResult['services']): RoundResult => ({ id: `r${t}`, trigger: 'schedule', startedAt: t, finishedAt: t + 1000, durationSeconds: 1, aborted: false, services });
  const rounds = [round(at, [ok('ocr', at), ok('nlp', at)]), round(at + 60_000, [ok('ocr', at + 60_000), maint('nlp', at + 60_000)])];
  const data = buildDigest(rounds, day, 'UTC');
  assert.equal(data.failedRounds, 0);
  const nlp = data.services.find((s) => s.serviceId === 'nlp')!;
  assert.deepEqual([nlp.rounds, nlp.ok, nlp.successRatio], [1, 1, 1], 'the window does not lower the success ratio');
  assert.deepEqual(data.latest && [data.latest.run, data.latest.ok, data.latest.failed, data.latest.other, data.latest.maintenance], [1, 1, 0, 0, 1]);
  const mail = digestMessage(rounds, day, { timezone: 'UTC', locale: 'zh', subjectTemplate: 'patrol {{date}}', redact: (x) => x });
  assert.match(mail.html, /执行 1，成功 1，失败 0，维护中 1</);
  // Listed apart from the failures, with its reason; no failure list at all.
  assert.match(mail.html, /<p style="margin:0">维护中:<\/p><ul[^>]*>\n<li><b>nlp<\/b>: maintenance window until 2026-01-10 14:00 \(UTC\): upgrade<\/li>/);
  assert.ok(!mail.html.includes('失败原因'), 'no failure reasons');
  assert.ok(!/<tr class="fail"[^>]*data-service="nlp"/.test(mail.html), 'not a red row');
  assert.match(mail.text, /执行 1，成功 1，失败 0，维护中 1/);
  assert.match(mail.text, /\n维护中:\n  - nlp: maintenance window until/);
  const en = digestMessage(rounds, day, { timezone: 'UTC', locale: 'en', subjectTemplate: 'patrol {{date}}', redact: (x) => x });
  assert.match(en.text, /Run 1, succeeded 1, failed 0, in maintenance 1/);

  // The pages, from the same rounds in memory.
  const store = new MemoryStore(10);
  for (const r of rounds) store.save(r);
  const page = statusPage(store.latest(), null, { timezone: 'UTC', locale: 'en', services: store.overview(day, 'UTC', 10) });
  assert.match(page, /<tr class="other" data-service="nlp" data-verdict="maintenance">/);
  assert.match(page, /<tr data-service="nlp"><td class="name"><a href="\/services\/nlp">nlp<\/a><\/td><td>1<\/td><td>1<\/td><td>100.0%<\/td>/);
  const details = servicePage('nlp', store.serviceHistory('nlp', 5), { timezone: 'UTC', locale: 'en' });
  assert.match(details, /maintenance <code>maintenance<\/code>/);
});

test('the gauge\'s text: one line per inspected service, made once per change (a window added or cancelled, another config), not per scrape', () => {
  const store = new SqliteStore(':memory:');
  const m = new Maintenance(new SqliteMaintenance(store.db), new Redactor([SECRET]), silentLogger);
  const config = parseConfig(twoServices(), 'test.yml').config;
  m.configure(config, ['ocr', 'nlp']);
  const now = Date.now();
  const first = m.exposition(now);
  assert.equal(first.toString(), [
    "# HELP patrol_service_maintenance Whether the service is inside a maintenance window now (1) or not (0): it is then not inspected, and its last round's verdict is maintenance. Evaluated at every scrape, so a window's start and end show up between rounds.",
    '# TYPE patrol_service_maintenance gauge',
    'patrol_service_maintenance{service_id="ocr"} 0',
    'patrol_service_maintenance{service_id="nlp"} 0',
    '',
  ].join('\n'));
  assert.equal(m.exposition(now + 1000), first, 'nothing changed: the same text');
  const w = m.add({ services: ['nlp'], start: now, end: now + 60_000, reason: '' }, now);
  const held = m.exposition(now + 1000);
  assert.match(held.toString(), /^patrol_service_maintenance\{service_id="nlp"\} 1$/m);
  assert.match(held.toString(), /^patrol_service_maintenance\{service_id="ocr"\} 0$/m);
  // The window's end is a change of its own, seen without anyone calling.
  assert.match(m.exposition(now + 60_000).toString(), /^patrol_service_maintenance\{service_id="nlp"\} 0$/m);
  m.cancel(w.id, now + 2000);
  assert.match(m.exposition(now + 2000).toString(), /^patrol_service_maintenance\{service_id="nlp"\} 0$/m);
  m.configure(config, ['ocr']);
  assert.doesNotMatch(m.exposition(now + 3000).toString(), /nlp/, 'a service no longer inspected has no line');
  store.close();
});

test('a history file that cannot be read: the config windows still apply, a scrape still works, the error is logged', async () => {
  const store = new SqliteStore(':memory:');
  const lines: string[] = [];
  const logger = pino({ level: 'error' }, { write: (l: string) => void lines.push(l) });
  const m = new Maintenance(new SqliteMaintenance(store.db), new Redactor([SECRET]), logger);
  const config = parseConfig(twoServices(ALWAYS('[ocr]')), 'test.yml').config;
  m.configure(config, ['ocr', 'nlp']);
  m.add({ services: ['nlp'], start: Date.now(), end: Date.now() + 60_000, reason: '' }, Date.now());
  assert.deepEqual([...m.activeAt(Date.now()).keys()].sort(), ['nlp', 'ocr']);
  store.close();
  m.configure(config, ['ocr', 'nlp']);
  assert.deepEqual([...m.activeAt(Date.now()).keys()], ['ocr'], 'the config window still applies');
  const text = m.exposition(Date.now()).toString();
  assert.match(text, /patrol_service_maintenance\{service_id="ocr"\} 1/);
  assert.match(text, /patrol_service_maintenance\{service_id="nlp"\} 0/);
  assert.ok(lines.some((l) => /could not read the API maintenance windows/.test(l)), lines.join(''));
});

test('patrol run-once: a service in a window is shown as maintenance and does not fail the exit status', async (t) => {
  const sim = await startSimulator({ lagMs: 0 });
  t.after(() => sim.close());
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-maint-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'patrol.yml');
  writeFileSync(file, twoServices(ALWAYS('[nlp]')).replace('http://127.0.0.1:1', sim.url));
  const r = await runPatrol(['run-once', `--config.file=${file}`, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const round = JSON.parse(r.stdout) as RoundResult;
  assert.deepEqual(round.services.map((s) => [s.serviceId, s.verdict]), [['ocr', 'ok'], ['nlp', 'maintenance']]);
  assert.equal(sim.stats().calls.nlp, 0);
  // With nlp failing and no window, the same command exits 1: the exit status does look at verdicts.
  writeFileSync(file, twoServices().replace('http://127.0.0.1:1', sim.url));
  sim.setFaults('nlp', { error5xx: true });
  assert.equal((await runPatrol(['run-once', `--config.file=${file}`, '--json'])).code, 1);
});
