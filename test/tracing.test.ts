// A trace for every round (docs/tracing.md), against the real simulator and a real OTLP/HTTP
// receiver on 127.0.0.1: the spans that arrive, their names and parent links, their attributes
// (redacted), the traceparent header the platform received on each request, the trace id on the
// result, in the history, on the details page, in the API and beside failures in the digest; with
// export off, no export request at all and still a trace id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseConfig } from '../src/config/load.js';
import { Inspector } from '../src/engine/inspector.js';
import { WorkerHost } from '../src/worker/host.js';
import { queryDigest } from '../src/digest/query.js';
import { renderDigestHtml } from '../src/digest/html.js';
import { renderDigestText } from '../src/digest/text.js';
import type { Simulator } from '../src/sim/platform.js';
import { MIGRATIONS, SqliteStore } from '../src/store/sqlite.js';
import type { RoundResult } from '../src/types.js';
import { dayIn } from '../src/util/time.js';
import { servicePage } from '../src/web/details.js';
import { ocrConfig, silentLogger, withSim } from './helpers/harness.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './helpers/otlp.js';
import { eventually, freePort, startPatrol } from './helpers/process.js';
import { leakForms } from './helpers/secrets.js';
import { APP, ENV, ROOT, wsConfig } from './helpers/xfyun-config.js';
import { startWeb } from './helpers/web.js';
import Database from 'better-sqlite3';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { tracingSchema } from '../src/config/tracing.js';
import { Redactor } from '../src/redact.js';
import { tracesUrl } from '../src/trace/sdk.js';
import { createTracing } from '../src/trace/tracing.js';

/** Upper case: the simulator's echo service answers the text upper-cased, so the answer carries it as is. */
const SECRET = 'ZW8QK3TPL5RM2XNV';
const OTLP_TOKEN = 'otlp-token-5c2e8a91';
const env = { TRACE_SECRET: SECRET, OTLP_TOKEN };
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

/** ocr (ok: a call and an auth check), and echo, whose call fails quoting the secret the platform echoed. */
function config(tracing: string): string {
  const base = ocrConfig().replace('global:\n', `global:\n${tracing}`);
  return `${base}
  - id: echo
    app_id: 5f3a9c01
    business_id: echo
    params: { secret: "\${TRACE_SECRET}" }
    # The platform charges the call our expectation fails: at_least keeps the verdict call_failed.
    metering: { mode: at_least }
    calls:
      - name: shout
        http:
          method: POST
          url: "{{vars.platform_url}}/v1/echo"
          headers: { X-Appid: "{{app_id}}", X-Api-Key: demo-api-key-0001 }
          json: { text: "{{params.secret}}" }
        expect: { status: 200, json: [{ path: data.result, equals: nope }] }
`;
}

const exporting = (receiver: OtlpReceiver) => `  tracing:
    otlp_endpoint: ${receiver.url}
    headers: { authorization: "Bearer \${OTLP_TOKEN}" }
    service_name: patrol-test
    resource_attributes: { deployment.environment: test }
`;

function loaded(text: string, sim: Simulator) {
  return parseConfig(text, 'test.yml', { env, vars: { platform_url: sim.url } });
}

async function runRound(text: string, sim: Simulator, logger = silentLogger): Promise<{ result: RoundResult; inspector: Inspector }> {
  const l = loaded(text, sim);
  const inspector = new Inspector({ config: l.config, secrets: l.secrets, logger });
  const result = await inspector.runRound({ trigger: 'api' });
  return { result, inspector };
}

const one = (spans: ReceivedSpan[], name: string, where: (s: ReceivedSpan) => boolean = () => true): ReceivedSpan => {
  const found = spans.filter((s) => s.name === name && where(s));
  assert.equal(found.length, 1, `one ${name} span, found ${found.length}`);
  return found[0];
};
const contextOf = (s: ReceivedSpan) => `00-${s.traceId}-${s.spanId}-01`;

/** A logger whose lines are kept, to check that no secret reaches them. */
function capturingLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

test('a round is exported over OTLP/HTTP: its spans, their parents, attributes redacted, the traceparent the platform received', async () => {
  const receiver = await startOtlpReceiver();
  try {
    await withSim({ lagMs: 100, services: ['echo'] }, async (sim) => {
      const { logger, lines } = capturingLogger();
      const { result, inspector } = await runRound(config(exporting(receiver)), sim, logger);
      assert.equal((await inspector.tracing).exporting, true);
      // close() shuts the tracer down, which sends what is left.
      await inspector.close();

      const [ocr, echo] = result.services;
      assert.equal(ocr.verdict, 'ok', ocr.reason);
      assert.equal(echo.verdict, 'call_failed');
      assert.match(echo.reason, /<redacted>/, 'the echoed secret is redacted in the reason');
      assert.match(ocr.traceId ?? '', /^[0-9a-f]{32}$/);
      assert.equal(echo.traceId, ocr.traceId, 'one trace per round');
      const traceId = ocr.traceId!;

      const spans = receiver.spans();
      assert.ok(spans.length > 0, 'spans arrived');
      for (const s of spans) assert.equal(s.traceId, traceId, `${s.name} is in the round's trace`);
      assert.equal(spans[0].resource['service.name'], 'patrol-test');
      assert.equal(spans[0].resource['deployment.environment'], 'test');
      // The collector's header went with every export request.
      for (const r of receiver.requests) assert.equal(r.headers.authorization, `Bearer ${OTLP_TOKEN}`);

      // The tree: round -> service -> (before read, calls, auth checks, settle -> its reads); a login inside the read that needed it.
      const round = one(spans, 'patrol.round');
      assert.equal(round.parentSpanId, '');
      assert.equal(round.attributes['patrol.trigger'], 'api');
      assert.equal(round.attributes['patrol.services'], 2);
      assert.equal(round.attributes['patrol.services_failed'], 1);
      assert.equal(round.status.code, 2, 'a round with a failed service is an error');
      const service = (id: string) => one(spans, 'patrol.service', (s) => s.attributes['patrol.service_id'] === id);
      for (const id of ['ocr', 'echo']) {
        const sv = service(id);
        assert.equal(sv.parentSpanId, round.spanId, `${id}: service span under the round`);
        const mine = (name: string) => spans.filter((s) => s.name === name && s.attributes['patrol.service_id'] === id);
        const settle = one(mine('patrol.settle'), 'patrol.settle');
        assert.equal(settle.parentSpanId, sv.spanId, `${id}: settle under the service`);
        const r = result.services.find((x) => x.serviceId === id)!;
        assert.equal(settle.attributes['patrol.metering.expected_delta'], r.expectedDelta, `${id}: the settle span's expected delta`);
        assert.equal(typeof settle.attributes['patrol.settle.matched'], 'boolean', `${id}: the settle span says whether it matched`);
        for (const c of [...mine('patrol.call'), ...mine('patrol.auth_check')]) assert.equal(c.parentSpanId, sv.spanId, `${id}: ${c.name} under the service`);
        const reads = mine('patrol.counter_read');
        const before = reads.filter((r) => r.attributes['patrol.read'] === 'before');
        const polls = reads.filter((r) => r.attributes['patrol.read'] === 'settle');
        assert.equal(before.length, 1);
        assert.equal(before[0].parentSpanId, sv.spanId, `${id}: the before read under the service`);
        assert.ok(polls.length >= 1, `${id}: settle polls`);
        for (const p of polls) assert.equal(p.parentSpanId, settle.spanId, `${id}: polls under the settle span`);
        assert.equal(typeof before[0].attributes['patrol.counter.value'], 'number');
      }
      const login = one(spans, 'patrol.login');
      assert.ok(spans.some((s) => s.name === 'patrol.counter_read' && s.spanId === login.parentSpanId), 'the login under the read that needed it');

      // Attributes: verdicts, reasons (redacted), statuses.
      assert.equal(service('ocr').attributes['patrol.verdict'], 'ok');
      // ocr's delta matched: its settle span says so, with the settle time the result reports.
      const ocrSettle = one(spans, 'patrol.settle', (s) => s.attributes['patrol.service_id'] === 'ocr');
      assert.equal(ocrSettle.attributes['patrol.settle.matched'], true);
      assert.equal(ocrSettle.attributes['patrol.metering.settle_seconds'], ocr.settleSeconds);
      assert.equal(service('ocr').status.code, 0);
      assert.equal(service('echo').attributes['patrol.verdict'], 'call_failed');
      assert.equal(service('echo').status.code, 2);
      assert.match(String(service('echo').attributes['patrol.reason']), /<redacted>/);
      const recognise = one(spans, 'patrol.call', (s) => s.attributes['patrol.call'] === 'recognise');
      assert.equal(recognise.attributes['http.response.status_code'], 200);
      assert.equal(recognise.attributes['patrol.call.ok'], true);
      assert.equal(recognise.kind, 3, 'a call is a client span');
      const shout = one(spans, 'patrol.call', (s) => s.attributes['patrol.call'] === 'shout');
      assert.equal(shout.status.code, 2);
      assert.match(String(shout.attributes['patrol.reason']), /<redacted>/);
      assert.match(shout.status.message ?? '', /<redacted>/);
      const wrongKey = one(spans, 'patrol.auth_check', (s) => s.attributes['patrol.auth_check'] === 'wrong_key');
      assert.equal(wrongKey.attributes['patrol.auth_check.outcome'], 'rejected');
      assert.equal(wrongKey.attributes['http.response.status_code'], 401);

      // The platform received each request with its span's context.
      const received = sim.traces();
      const at = (method: string, p: string) => received.filter((r) => r.method === method && r.path === p).map((r) => r.traceparent);
      for (const tp of received.map((r) => r.traceparent)) assert.match(tp ?? '', TRACEPARENT, 'every request carried a traceparent');
      assert.deepEqual(at('POST', '/v1/ocr').sort(), [contextOf(recognise), contextOf(wrongKey)].sort(), 'the call and the auth check, each with its own span');
      assert.deepEqual(at('POST', '/v1/echo'), [contextOf(shout)]);
      assert.deepEqual(at('POST', '/console/login'), [contextOf(login)]);
      const readContexts = spans.filter((s) => s.name === 'patrol.counter_read').map(contextOf).sort();
      assert.deepEqual([...new Set(at('GET', '/console/usage'))].sort(), readContexts, 'each counter read with its span');

      // No secret in anything exported or logged: the echoed value, the api key, the password, the collector's token.
      const exported = receiver.requests.filter((r) => r.path === '/v1/traces').map((r) => r.body).join('\n');
      const logged = lines.join('');
      for (const secret of [SECRET, OTLP_TOKEN, 'demo-api-key-0001', 'demo-password']) {
        for (const form of leakForms(secret)) {
          assert.ok(!exported.includes(form), 'a secret in the exported spans');
          assert.ok(!logged.includes(form), 'a secret in the log');
        }
      }
    });
  } finally {
    await receiver.close();
  }
});

test('export off: no export request even with OTEL_EXPORTER_OTLP_ENDPOINT set, and still a trace id on the result and the requests', async () => {
  const receiver = await startOtlpReceiver();
  const saved = { a: process.env.OTEL_EXPORTER_OTLP_ENDPOINT, b: process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT };
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
  process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = `${receiver.url}/v1/traces`;
  try {
    await withSim({ lagMs: 50, services: ['echo'] }, async (sim) => {
      const { result, inspector } = await runRound(config(''), sim);
      assert.equal((await inspector.tracing).exporting, false);
      await (await inspector.tracing).flush();
      await inspector.close();
      const traceId = result.services[0].traceId ?? '';
      assert.match(traceId, /^[0-9a-f]{32}$/);
      assert.notEqual(traceId, '0'.repeat(32));
      const received = sim.traces();
      assert.ok(received.length > 0);
      for (const r of received) assert.equal(TRACEPARENT.exec(r.traceparent ?? '')?.[1], traceId, `${r.method} ${r.path} carried the round's trace`);
      // Each request its own span (ids only when nothing is exported, but ids all the same).
      const spanIds = received.map((r) => TRACEPARENT.exec(r.traceparent ?? '')?.[2]);
      assert.equal(new Set(spanIds).size, received.length, `distinct span ids: ${spanIds.join(' ')}`);
      assert.ok(!spanIds.includes('0'.repeat(16)));
    });
    assert.deepEqual(receiver.requests, [], 'nothing was sent anywhere');
  } finally {
    if (saved.a === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = saved.a;
    if (saved.b === undefined) delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
    else process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = saved.b;
    await receiver.close();
  }
});

test('rounds in the worker thread: spans made and exported there, the trace id crosses with the results', async () => {
  const receiver = await startOtlpReceiver();
  const host = new WorkerHost(silentLogger);
  try {
    await withSim({ lagMs: 50, services: ['echo'] }, async (sim) => {
      host.configure(loaded(config(exporting(receiver)), sim));
      const first = await host.runRound({ trigger: 'api' });
      const traceId = first.services[0].traceId ?? '';
      assert.match(traceId, /^[0-9a-f]{32}$/);
      assert.ok(first.services.every((s) => s.traceId === traceId));
      // A reload: the old inspector's tracer is shut down, flushing its spans.
      host.configure(loaded(config(exporting(receiver)), sim));
      const second = await host.runRound({ trigger: 'api' });
      assert.notEqual(second.services[0].traceId, traceId, 'a new round, a new trace');
      await host.close();
      const traces = new Set(receiver.spans().map((s) => s.traceId));
      assert.ok(traces.has(traceId), 'the first round was exported (at its end or when its config was replaced)');
      assert.ok(traces.has(second.services[0].traceId!), 'the second round was exported when the worker stopped');
      assert.equal(receiver.spans().filter((s) => s.name === 'patrol.round').length, 2);
    });
  } finally {
    await host.close();
    await receiver.close();
  }
});

test('the trace id is kept in the history (ok and failed verdicts) and shown on the details page, in the API and beside each failure in the digest', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-trace-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'history.db');
  const rounds: RoundResult[] = [];
  await withSim({ lagMs: 50, services: ['echo'] }, async (sim) => {
    const l = loaded(config(''), sim);
    const inspector = new Inspector({ config: l.config, secrets: l.secrets, logger: silentLogger });
    // First ocr ok, echo failed; then ocr charged twice (a metering mismatch), echo failed again.
    rounds.push(await inspector.runRound({ trigger: 'api' }));
    sim.setFaults('ocr', { double: true });
    rounds.push(await inspector.runRound({ trigger: 'api' }));
    await inspector.close();
  });
  const [first, second] = rounds;
  assert.deepEqual(second.services.map((s) => s.verdict), ['metering_mismatch', 'call_failed']);
  const t1 = first.services[0].traceId!;
  const t2 = second.services[0].traceId!;
  assert.notEqual(t1, t2);
  const saving = new SqliteStore(file);
  for (const r of rounds) saving.save(r);
  saving.close();

  // Read back from the file (not the round the saving connection kept whole).
  const store = new SqliteStore(file);
  t.after(() => store.close());
  assert.deepEqual(store.latest()!.services.map((s) => [s.serviceId, s.traceId]), [['ocr', t2], ['echo', t2]]);
  const tz = 'Asia/Shanghai';
  const day = dayIn(tz, first.startedAt);
  assert.deepEqual(store.byDay(day, tz).map((r) => r.services.map((s) => s.traceId)), [[t1, t1], [t2, t2]]);
  // ocr: the mismatch is a whole row, the ok verdict a compact tuple; both get their round's trace.
  const ocr = store.serviceHistory('ocr', 5);
  assert.deepEqual(ocr.map((e) => [e.result.verdict, e.result.traceId]), [['metering_mismatch', t2], ['ok', t1]]);
  const page = servicePage('ocr', ocr, { timezone: tz, locale: 'en' });
  for (const id of [t1, t2]) assert.match(page, new RegExp(`trace <code class="trace-id">${id}</code>`), 'each entry of the details page');

  const digest = queryDigest(store, day, tz);
  const html = renderDigestHtml(digest, { locale: 'en', redact: (x) => x, title: 'digest' });
  const text = renderDigestText(digest, { locale: 'en', redact: (x) => x, title: 'digest' });
  // Beside each failure of the latest round, and in the day's list of mismatches.
  for (const [name, verdict] of [['文字识别', 'metering mismatch'], ['echo', 'call failed']]) {
    assert.match(html, new RegExp(`<li><b>${name}</b> \\(${verdict}\\): [^\\n]*\\(trace <code>${t2}</code>\\)</span></li>`));
    assert.match(text, new RegExp(`^  - ${name} \\(${verdict}\\): .*\\(trace ${t2}\\)$`, 'm'));
  }
  assert.match(html, new RegExp(`<tr class="mismatch" data-service="ocr">(<td[^>]*>[^<]*</td>){6}<td[^>]*>${t2}</td></tr>`));
  assert.match(text, new RegExp(`文字识别 .* ${t2}$`, 'm'));
  assert.ok(!html.includes(t1) && !text.includes(t1), 'the first round had no failure listed');
  const zh = renderDigestText(digest, { locale: 'zh', redact: (x) => x, title: 'digest' });
  assert.match(zh, new RegExp(`追踪 ID ${t2}`));

  // The API and the page over HTTP.
  const web = await startWeb('', {}, rounds);
  try {
    const latest = (await (await fetch(`${web.url}/api/rounds/latest`)).json()) as RoundResult;
    assert.deepEqual(latest.services.map((s) => s.traceId), [t2, t2]);
    const byDay = (await (await fetch(`${web.url}/api/rounds?date=${day}`)).json()) as { rounds: RoundResult[] };
    assert.deepEqual(byDay.rounds.map((r) => r.services[1].traceId), [t1, t2]);
    const served = await (await fetch(`${web.url}/services/echo`)).text();
    assert.ok(served.includes(t1) && served.includes(t2), 'the details page served');
  } finally {
    await web.close();
  }
});

test('the trace_id migration is idempotent: a file that already has the column opens, and running it again changes nothing', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-trace-mig-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'h.db');
  const db = new Database(file);
  for (const m of MIGRATIONS.slice(0, 3)) m(db);
  // As if another version had added the column first.
  db.exec('ALTER TABLE rounds ADD COLUMN trace_id TEXT');
  db.pragma('user_version = 3');
  db.close();
  const store = new SqliteStore(file);
  assert.equal(store.schemaVersion, MIGRATIONS.length);
  store.close();
  const again = new Database(file);
  t.after(() => again.close());
  MIGRATIONS[3](again);
  MIGRATIONS[3](again);
  const columns = (again.prepare("SELECT name FROM pragma_table_info('rounds')").pluck().all() as string[]).filter((c) => c === 'trace_id');
  assert.deepEqual(columns, ['trace_id']);
});

test('span attributes and status messages pass through the redactor; the collector headers become secrets', async () => {
  const redactor = new Redactor([SECRET]);
  const memory = new InMemorySpanExporter();
  const tracing = await createTracing(tracingSchema.parse({ headers: { 'x-collector-key': 'collector-key-77c1' } }), { redactor, logger: silentLogger, exporter: memory });
  const round = tracing.round({ 'patrol.trigger': 'api' });
  const child = round.child('patrol.call', { 'patrol.reason': `got ${SECRET} and collector-key-77c1`, n: 3, ok: false, skipped: undefined }, 'client');
  child.fail(`failed with ${encodeURIComponent(SECRET)}`);
  child.end();
  round.end();
  // (A shutdown would empty the in-memory exporter: flush.)
  await tracing.flush();
  const [call] = memory.getFinishedSpans().filter((s) => s.name === 'patrol.call');
  assert.equal(call.attributes['patrol.reason'], 'got <redacted> and <redacted>');
  assert.equal(call.attributes.n, 3);
  assert.equal(call.attributes.ok, false);
  assert.ok(!('skipped' in call.attributes));
  assert.equal(call.status.message, 'failed with <redacted>');
  assert.equal(child.traceId, round.traceId);
  assert.match(child.traceparent, new RegExp(`^00-${round.traceId}-${child.spanId}-01$`));
  assert.equal(call.parentSpanContext?.spanId, round.spanId);
  assert.equal(tracesUrl('http://collector:4318'), 'http://collector:4318/v1/traces');
  assert.equal(tracesUrl('http://collector:4318/custom/traces'), 'http://collector:4318/custom/traces');
  await tracing.shutdown();
});

test('WebSocket handshakes carry the call span as traceparent, and a script gets it as TRACEPARENT', async () => {
  const scripted = `
  - id: scripted
    app_id: ${APP}
    business_id: scripted
    calls:
      - name: run
        units: 0
        script:
          command: [${JSON.stringify(process.execPath)}, -e, "process.stdout.write(JSON.stringify({ code: 0, traceparent: process.env.TRACEPARENT }))"]
          cwd: .
        expect: { json: [{ path: code, equals: 0 }] }
`;
  await withSim({}, async (sim) => {
    const l = parseConfig(wsConfig({ services: scripted }), 'test.yml', { env: ENV, vars: { platform_url: sim.url }, baseDir: ROOT });
    const memory = new InMemorySpanExporter();
    const redactor = new Redactor();
    const tracing = await createTracing(l.config.global.tracing, { redactor, logger: silentLogger, exporter: memory });
    const inspector = new Inspector({ config: l.config, secrets: l.secrets, logger: silentLogger, redactor, tracing });
    const result = await inspector.runRound({ trigger: 'cli' });
    await inspector.close();
    await tracing.flush();
    assert.deepEqual(result.services.map((s) => [s.serviceId, s.callOk]), [['iat', true], ['tts', true], ['scripted', true]], JSON.stringify(result.services.map((s) => s.reason)));
    const calls = memory.getFinishedSpans().filter((s) => s.name === 'patrol.call');
    const context = (name: string) => {
      const span = calls.find((s) => s.attributes['patrol.call'] === name)!;
      return `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;
    };
    const received = sim.traces();
    assert.deepEqual(received.filter((r) => r.path === '/v2/iat').map((r) => r.traceparent), [context('dictate')], 'the iat handshake');
    assert.deepEqual(received.filter((r) => r.path === '/v2/tts').map((r) => r.traceparent), [context('synthesise')], 'the tts handshake');
    const script = result.services[2].calls[0];
    assert.ok(script.responseExcerpt?.includes(`"traceparent":"${context('run')}"`), script.responseExcerpt);
    await tracing.shutdown();
  });
});

test('patrol demo shows each round\'s trace id on its pages, and its simulated platform lists the traceparent it received', async () => {
  const demo = await startPatrol(['demo', '--web.listen-address=127.0.0.1:0', '--sim.listen-address=127.0.0.1:0', '--sim.lag=200ms', '--log.level=info'], {}, 60_000);
  try {
    const latest = await eventually(async () => {
      const res = await fetch(`${demo.url}/api/rounds/latest`);
      return res.ok ? ((await res.json()) as RoundResult) : undefined;
    }, 120_000, 'a finished round');
    const traceId = latest.services[0].traceId ?? '';
    assert.match(traceId, /^[0-9a-f]{32}$/);
    const page = await (await fetch(`${demo.url}/services/${latest.services[0].serviceId}`)).text();
    assert.ok(page.includes(`<code class="trace-id">${traceId}</code>`), 'on the details page');
    const simUrl = /simulated platform at (http:\/\/\S+)/.exec(demo.stderr())![1];
    const received = ((await (await fetch(`${simUrl}/_sim/traces`)).json()) as { data: { path: string; traceparent?: string }[] }).data;
    assert.ok(received.some((r) => r.traceparent?.startsWith(`00-${traceId}-`)), 'the platform received the round\'s trace context');
  } finally {
    await demo.stop();
  }
});

test('a collector that is down costs a warning, not a round; the warning carries no secret', async () => {
  const port = await freePort();
  await withSim({ lagMs: 50, services: ['echo'] }, async (sim) => {
    const { logger, lines } = capturingLogger();
    const text = config(`  tracing:\n    otlp_endpoint: http://127.0.0.1:${port}\n    headers: { authorization: "Bearer \${OTLP_TOKEN}" }\n    export_timeout: 2s\n`);
    const { result, inspector } = await runRound(text, sim, logger);
    assert.equal(result.services[0].verdict, 'ok');
    assert.match(result.services[0].traceId ?? '', /^[0-9a-f]{32}$/);
    await inspector.close();
    const warnings = lines.filter((l) => l.includes('trace export failed'));
    assert.ok(warnings.length > 0, lines.join(''));
    for (const form of leakForms(OTLP_TOKEN)) assert.ok(!lines.join('').includes(form), 'the collector token in the log');
  });
});
