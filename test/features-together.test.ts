// Maintenance windows, SLO budgets, badges and traces together, on real parts: the simulated
// platform, a SQLite history file, the web server on 127.0.0.1:0 (the window is opened through
// POST /api/maintenance), a local OTLP/HTTP receiver, and `patrol digest` reading the file.
// A service held by a window is neither a failure nor a round anywhere: not in its error budget,
// not in its uptime badge, not in the digest's failure list (and no trace id beside it); its
// last-verdict badge says maintenance; the round that held it has a round span but no span of it.
//
//   node --import tsx --test test/features-together.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { stringify } from 'yaml';
import { digestCommand } from '../src/digest/cli.js';
import { queryDigest } from '../src/digest/query.js';
import { Exporter } from '../src/exporter.js';
import { PatrolMetrics } from '../src/metrics.js';
import { VERDICT_COLOURS } from '../src/present/strip.js';
import { Redactor } from '../src/redact.js';
import { startSimulator } from '../src/sim/platform.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { VERDICT_OUTCOME, type RoundResult } from '../src/types.js';
import { dayIn } from '../src/util/time.js';
import { createApp, listen } from '../src/web/server.js';
import { nlpService, ocrConfigObject, silentLogger } from './helpers/harness.js';
import { startOtlpReceiver } from './helpers/otlp.js';
import { eventually } from './helpers/process.js';

const TOKEN = 'admin-token-features-together';
const TZ = 'Asia/Shanghai';

function configText(otlpUrl: string, db: string): string {
  const o = ocrConfigObject({ schedule: '0 * * * *' });
  Object.assign(o.global as Record<string, unknown>, { timezone: TZ, tracing: { otlp_endpoint: otlpUrl } });
  // services stays the last key, so nlp's list item follows ocr's.
  return `${stringify(o)}${nlpService('    slo: { availability: { objective: 90, window: 7d } }\n')}digest: { locale: en }
storage: { path: ${JSON.stringify(db)} }
web:
  auth:
    bearer_token: "\${TOKEN}"
`;
}

const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

test('a service in a maintenance window: not a failure or a round in its budget, uptime badge and digest; its badge says maintenance; its round has a round span and no span of it', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-together-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const db = path.join(dir, 'history.db');
  const receiver = await startOtlpReceiver();
  t.after(() => receiver.close());
  const sim = await startSimulator({ lagMs: 0 });
  t.after(() => sim.close());
  const text = configText(receiver.url, db);
  const configFile = path.join(dir, 'patrol.yml');
  writeFileSync(configFile, text);
  const loadOptions = { env: { TOKEN }, vars: { platform_url: sim.url } };

  const store = new SqliteStore(db);
  const metrics = new PatrolMetrics(new Registry(), 'test');
  const redactor = new Redactor([TOKEN]);
  const exporter = new Exporter({ configText: () => text, loadOptions, logger: silentLogger, metrics, store, redactor });
  await exporter.start(false);
  const { server, url } = await listen(createApp({ exporter, metrics, store, logger: silentLogger, redactor }), '127.0.0.1:0');
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await exporter.stop();
  });
  const admin = { authorization: `Bearer ${TOKEN}` };
  const verdicts = (r: RoundResult) => r.services.map((s) => [s.serviceId, s.verdict]);

  // 1: both ok. 2: nlp's call fails. Then a window for nlp: 3, both held or ok; 4, ocr fails too.
  const rounds: RoundResult[] = [];
  rounds.push(await exporter.runRound('api')!);
  sim.setFaults('nlp', { error5xx: true });
  rounds.push(await exporter.runRound('api')!);
  sim.setFaults('nlp', {});
  const now = Date.now();
  const opened = await fetch(`${url}/api/maintenance`, {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({ services: ['nlp'], start: new Date(now - 1000).toISOString(), end: new Date(now + 3_600_000).toISOString(), reason: 'database upgrade' }),
  });
  assert.equal(opened.status, 201, await opened.clone().text());
  rounds.push(await exporter.runRound('api')!);
  sim.setFaults('ocr', { error5xx: true });
  rounds.push(await exporter.runRound('api')!);
  sim.setFaults('ocr', {});
  assert.deepEqual(verdicts(rounds[0]), [['ocr', 'ok'], ['nlp', 'ok']]);
  assert.equal(VERDICT_OUTCOME[rounds[1].services[1].verdict], 'failed', rounds[1].services[1].reason);
  assert.deepEqual(verdicts(rounds[2]), [['ocr', 'ok'], ['nlp', 'maintenance']]);
  assert.equal(VERDICT_OUTCOME[rounds[3].services[0].verdict], 'failed', rounds[3].services[0].reason);
  assert.equal(rounds[3].services[1].verdict, 'maintenance');
  const traceOf = (r: RoundResult) => r.services[0].traceId!;
  assert.match(traceOf(rounds[2]), /^[0-9a-f]{32}$/);

  // (c) The held round's trace: a round span and ocr's service span, nothing of nlp.
  const held = traceOf(rounds[2]);
  const spans = await eventually(async () => {
    const s = receiver.spans().filter((x) => x.traceId === held);
    return s.some((x) => x.name === 'patrol.round') && s.some((x) => x.name === 'patrol.service') ? s : undefined;
  }, 30_000, 'the spans of the round with nlp held');
  const roundSpans = spans.filter((s) => s.name === 'patrol.round');
  assert.equal(roundSpans.length, 1);
  assert.equal(roundSpans[0].attributes['patrol.services'], 1, 'the round span counts the inspected service only');
  assert.deepEqual(spans.filter((s) => s.name === 'patrol.service').map((s) => s.attributes['patrol.service_id']), ['ocr']);
  assert.ok(!spans.some((s) => s.attributes['patrol.service_id'] === 'nlp'), 'no span for the held service');
  assert.equal(rounds[2].services[1].traceId, undefined, 'a held verdict has no trace of its own');

  // Read back from the file by a second connection, as `patrol digest` and a restart would.
  const reader = new SqliteStore(db);
  t.after(() => reader.close());
  const nlpHistory = reader.serviceHistory('nlp', 10);
  assert.deepEqual(nlpHistory.map((e) => [e.result.verdict === 'maintenance', e.result.traceId ?? null]), [
    [true, null],
    [true, null],
    [false, traceOf(rounds[1])],
    [false, traceOf(rounds[0])],
  ], 'trace ids on inspected verdicts only, also when rebuilt from the columns');

  // (c) The details page of the held service renders, with the failed round's trace and no trace on a held entry.
  const details = await fetch(`${url}/services/nlp`, { headers: admin });
  assert.equal(details.status, 200);
  const page = await details.text();
  const entries = [...page.matchAll(/<section class="entry" data-verdict="([a-z_]+)">([\s\S]*?)<\/section>/g)].map((m) => ({ verdict: m[1], body: m[2] }));
  assert.deepEqual(entries.map((e) => e.verdict === 'maintenance'), [true, true, false, false]);
  for (const e of entries.slice(0, 2)) assert.ok(!e.body.includes('trace-id'), 'no trace id on a held entry');
  assert.ok(entries[2].body.includes(`<code class="trace-id">${traceOf(rounds[1])}</code>`));

  // (b) The last-verdict badge: maintenance, in its own colour, not a failure's.
  const badge = await (await fetch(`${url}/badges/nlp.svg`, { headers: admin })).text();
  assert.deepEqual(texts(badge), ['自然语言处理', 'maintenance']);
  assert.match(badge, new RegExp(`fill="${VERDICT_COLOURS.maintenance}"`));
  for (const v of ['call_failed', 'count_query_failed', 'metering_mismatch', 'auth_failed'] as const) assert.ok(!badge.includes(`fill="${VERDICT_COLOURS[v]}"`), v);

  // (a) Uptime: nlp judged twice (one ok) -> 50 %, not 1 of 4; ocr 3 of 4.
  const uptime = async (id: string) => texts(await (await fetch(`${url}/badges/${id}/uptime.svg?window=1d`, { headers: admin })).text());
  assert.deepEqual(await uptime('nlp'), ['自然语言处理 uptime 1d', '50.0%']);
  assert.deepEqual(await uptime('ocr'), ['文字识别 uptime 1d', '75.0%']);

  // (a) The day's figures and the budget from the history file: nlp had 2 rounds and 2 calls, one failed.
  const day = dayIn(TZ, rounds[0].startedAt);
  const figures = queryDigest(reader, day, TZ).services.find((s) => s.serviceId === 'nlp')!;
  assert.deepEqual([figures.rounds, figures.ok, figures.successRatio], [2, 1, 0.5]);
  const out = path.join(dir, 'digest.html');
  const outcome = await digestCommand({ configFile, date: day, out, redactor: new Redactor(), logger: silentLogger, loadOptions });
  assert.ok(outcome.ok, outcome.ok ? '' : outcome.error);
  const html = readFileSync(out, 'utf8');
  const budget = /<tr class="budget (\S+)" data-service="nlp" data-sli="availability"[^>]*>(.*?)<\/tr>/.exec(html);
  assert.ok(budget, 'a budget row for nlp');
  const cells = [...budget[2].matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((c) => c[1]);
  // 1 bad of 2 against a 10 % budget: 1 - 0.5 / 0.1 = -400 %.
  assert.deepEqual([cells[2], cells[4], cells[5]], ['90%', '1/2', '-400.0% (exhausted)']);
  assert.match(cells[3], /^7d \(history since \d{4}-\d{2}-\d{2}\)$/, 'the history is younger than the window');

  // (d) The latest round's failure list: ocr with its trace id; nlp listed apart, without one.
  const latestTrace = traceOf(rounds[3]);
  assert.match(html, new RegExp(`<li><b>文字识别</b> \\(call failed\\): [^\\n]*\\(trace <code>${latestTrace}</code>\\)</span></li>`));
  const heldItem = /<li><b>自然语言处理<\/b>: ([^\n]*)<\/li>/.exec(html);
  assert.ok(heldItem, 'nlp in the maintenance list');
  assert.match(heldItem[1], /^maintenance window until .*database upgrade/);
  assert.ok(!heldItem[1].includes('trace'), 'no trace id beside a held service');
  assert.ok(!/<li><b>自然语言处理<\/b> \(/.test(html), 'nlp is not in the failure list');
  assert.equal(html.split(latestTrace).length - 1, 1, 'the trace id once, beside the failure');
});
