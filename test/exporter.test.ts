// The exporter as a user runs it: the real `patrol` process, the simulated platform, HTTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSimulator } from '../src/sim/platform.js';
import { nlpService, ocrConfig } from './helpers/harness.js';
import { eventually, parseMetrics, runPatrol, sample, startPatrol, tempDb } from './helpers/process.js';
import { requireTool } from './helpers/tools.js';
import { buildDigest, queryDigest } from '../src/digest/query.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { Registry } from 'prom-client';
import { parseConfig } from '../src/config/load.js';
import { PatrolMetrics } from '../src/metrics.js';
import { round } from './helpers/rounds.js';
import { assertNoSecrets, SECRET_ENV } from './helpers/secrets.js';

/** Every metric name of the contract (README, Metrics). */
export const CONTRACT = [
  'patrol_service_info', 'patrol_service_success', 'patrol_call_success', 'patrol_call_duration_seconds',
  'patrol_auth_check_success', 'patrol_usage_calls', 'patrol_count_query_success', 'patrol_metering_delta',
  'patrol_metering_expected_delta', 'patrol_metering_success', 'patrol_metering_settle_seconds',
  'patrol_service_last_run_timestamp_seconds', 'patrol_calls_total', 'patrol_call_failures_total',
  'patrol_metering_checks_total', 'patrol_metering_mismatches_total', 'patrol_rounds_total',
  'patrol_round_failures_total', 'patrol_rounds_skipped_total', 'patrol_round_duration_seconds',
  'patrol_last_round_timestamp_seconds', 'patrol_digest_last_success_timestamp_seconds',
  'patrol_digest_failures_total', 'patrol_config_last_reload_successful', 'patrol_build_info',
  'patrol_service_consecutive_failures', 'patrol_metering_unexplained_units_total', 'patrol_rounds_aborted_total',
  'patrol_history_write_failures_total', 'patrol_digest_outbox_messages', 'patrol_service_maintenance',
];

async function scrape(url: string, accept?: string): Promise<string> {
  const res = await fetch(`${url}/metrics`, { headers: accept ? { accept } : {} });
  assert.equal(res.status, 200);
  return res.text();
}

test('the demo (patrol demo, as npm start runs it) shows every contract metric with ok verdicts and matching deltas', async () => {
  const p = await startPatrol(['demo', '--web.listen-address=127.0.0.1:0', '--sim.listen-address=127.0.0.1:0', '--sim.lag=500ms', `--storage.path=${tempDb()}`]);
  try {
    const metrics = await eventually(async () => {
      const m = parseMetrics(await scrape(p.url));
      return (sample(m, 'patrol_rounds_total') ?? 0) >= 1 ? m : undefined;
    }, 60_000, 'a finished round');
    const text = await scrape(p.url);
    for (const name of CONTRACT) assert.match(text, new RegExp(`^${name}(\\{| )`, 'm'), `${name} has a sample`);
    const services = [...text.matchAll(/^patrol_service_info\{service_id="([^"]+)"/gm)].map((m) => m[1]);
    assert.ok(services.length >= 2, `services: ${services}`);
    // The demo opens a maintenance window for webocr at start (its first 5 minutes): not inspected.
    assert.equal(sample(metrics, 'patrol_service_maintenance', { service_id: 'webocr' }), 1, 'webocr in its window');
    const windows = (await (await fetch(`${p.url}/api/maintenance`)).json()) as { windows: { services: string[] | 'all'; active: boolean; source: string }[] };
    assert.ok(windows.windows.some((w) => w.source === 'api' && w.active && Array.isArray(w.services) && w.services.includes('webocr')), JSON.stringify(windows));
    for (const id of services) {
      if (sample(metrics, 'patrol_service_maintenance', { service_id: id }) === 1) {
        assert.equal(sample(metrics, 'patrol_service_success', { service_id: id }), undefined, `${id}: no verdict value while in maintenance`);
        continue;
      }
      assert.equal(sample(metrics, 'patrol_service_success', { service_id: id }), 1, `${id} ok`);
      assert.equal(sample(metrics, 'patrol_metering_delta', { service_id: id }), sample(metrics, 'patrol_metering_expected_delta', { service_id: id }), `${id} delta == expected`);
    }
    // The HELP text says rounds are not made at scrape time.
    assert.match(text, /# HELP patrol_service_success .*not at scrape time/);
    // OpenMetrics on request.
    const open = await scrape(p.url, 'application/openmetrics-text; version=1.0.0');
    assert.match(open, /^# TYPE patrol_calls counter$/m);
    assert.match(open, /^patrol_calls_total\{service_id="ocr"\} \d+$/m);
    assert.match(open, /# EOF\n$/);
    assert.equal(await p.stop('SIGTERM'), 0);
  } finally {
    await p.stop('SIGKILL');
  }
});

test('promtool check metrics is clean for the patrol_ families', async (t) => {
  const promtool = requireTool(t, 'promtool');
  if (!promtool) return;
  const p = await startPatrol(['demo', '--web.listen-address=127.0.0.1:0', '--sim.listen-address=127.0.0.1:0', '--sim.lag=200ms', `--storage.path=${tempDb()}`]);
  try {
    await eventually(async () => ((sample(parseMetrics(await scrape(p.url)), 'patrol_rounds_total') ?? 0) >= 1 ? true : undefined), 60_000);
    const text = await scrape(p.url);
    const patrolOnly = text.split('\n\n').filter((block) => /^# HELP patrol_/.test(block)).join('\n\n') + '\n';
    assert.ok(patrolOnly.length > 1000);
    // Every finding is a failure (the counter readings are patrol_usage_calls, not a summary-like _count).
    const r = spawnSync(promtool, ['check', 'metrics'], { input: patrolOnly, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
    assert.equal((r.stdout + r.stderr).trim(), '');
  } finally {
    await p.stop('SIGKILL');
  }
});

test('reload: a bad file keeps the old config running; SIGHUP reloads a good one; overlapping rounds are skipped and counted', async () => {
  const sim = await startSimulator({ lagMs: 200 });
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-'));
  const file = path.join(dir, 'patrol.yml');
  const good = ocrConfig({ platformUrl: sim.url });
  writeFileSync(file, good);
  const p = await startPatrol(['serve', `--config.file=${file}`, '--web.listen-address=127.0.0.1:0']);
  try {
    const ready = await fetch(`${p.url}/-/ready`);
    assert.equal(ready.status, 200);
    writeFileSync(file, ocrConfig({ platformUrl: sim.url, schedule: 'not cron' }));
    const bad = await fetch(`${p.url}/-/reload`, { method: 'POST' });
    assert.equal(bad.status, 500);
    assert.match(await bad.text(), /global\.schedule \(line \d+\): invalid cron expression "not cron"/);
    let m = parseMetrics(await scrape(p.url));
    assert.equal(sample(m, 'patrol_config_last_reload_successful'), 0);
    assert.equal((await fetch(`${p.url}/-/ready`)).status, 200, 'still ready on the old config');

    // Still inspecting with the old config; a second request while the first runs is a skip.
    assert.equal((await fetch(`${p.url}/api/rounds`, { method: 'POST' })).status, 202);
    assert.equal((await fetch(`${p.url}/api/rounds`, { method: 'POST' })).status, 409);
    const latest = await eventually(async () => {
      const r = await fetch(`${p.url}/api/rounds/latest`);
      return r.status === 200 ? ((await r.json()) as { startedAt: number; services: { verdict: string }[] }) : undefined;
    }, 20_000, 'a finished round');
    assert.equal(latest.services[0].verdict, 'ok');
    m = parseMetrics(await scrape(p.url));
    assert.equal(sample(m, 'patrol_rounds_skipped_total'), 1);
    assert.equal(sample(m, 'patrol_rounds_total'), 1);

    writeFileSync(file, ocrConfig({ platformUrl: sim.url, name: 'renamed' }));
    p.child.kill('SIGHUP');
    await eventually(async () => {
      const text = await scrape(p.url);
      return /patrol_config_last_reload_successful 1/.test(text) && /service_id="ocr",name="renamed"/.test(text) ? true : undefined;
    }, 10_000, 'SIGHUP reload');

    // The round's own day (not the clock's now, which may have passed midnight since).
    const day = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(latest.startedAt);
    const history = (await (await fetch(`${p.url}/api/rounds?date=${day}`)).json()) as { rounds: unknown[] };
    assert.equal(history.rounds.length, 1);
    assert.equal((await fetch(`${p.url}/api/rounds?date=yesterday`)).status, 400);
  } finally {
    await p.stop('SIGKILL');
    await sim.close();
  }
});

test('SIGTERM during a round ends it cleanly and exits 0 within moments', async () => {
  const sim = await startSimulator({ lagMs: 200 });
  // The call would hang for two minutes: an exit that waited for it would take that long.
  sim.setFaults('ocr', { slowMs: 120_000 });
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-'));
  const file = path.join(dir, 'patrol.yml');
  writeFileSync(file, ocrConfig({ callTimeoutMs: 180_000, roundTimeoutMs: 300_000, platformUrl: sim.url }));
  const p = await startPatrol(['serve', `--config.file=${file}`, '--web.listen-address=127.0.0.1:0']);
  try {
    assert.equal((await fetch(`${p.url}/api/rounds`, { method: 'POST' })).status, 202);
    await eventually(async () => ((sim.stats().calls.ocr ?? 0) > 0 ? true : undefined), 60_000, 'the call in flight');
    const started = Date.now();
    assert.equal(await p.stop('SIGTERM', 100_000), 0);
    // The promise is "within moments" (about 5 s): 5x that, far below the two-minute call.
    assert.ok(Date.now() - started < 25_000, `stopped in ${Date.now() - started} ms`);
    assert.match(p.stderr(), /"aborted":true[^\n]*"msg":"round finished"/);
    assert.match(p.stderr(), /"msg":"stopped"/);
  } finally {
    await p.stop('SIGKILL');
    await sim.close();
  }
});

test('secrets from the environment appear in no log line, metric, page, details page, API answer, error or history file', async (t) => {
  const sim = await startSimulator({ lagMs: 100 });
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-'));
  const file = path.join(dir, 'patrol.yml');
  const db = tempDb();
  const apiKey = 'demo-api-key-0001';
  const password = 'demo-password'; // the login form's password (the simulator's account)
  // A failing call carrying a secret in each place (see helpers/secrets.ts): a URL path segment, a
  // query value under an innocent key, a header that is not a credential by name, a JSON body, and
  // an expectation whose failure text quotes one. The key also travels as `key=` and X-Api-Key.
  const leaky = {
    name: 'leaky',
    units: 0,
    http: {
      method: 'POST',
      url: '{{vars.platform_url}}/v1/files/{{params.path_secret}}?note={{params.query_secret}}&key={{params.api_key}}',
      headers: { 'X-Api-Key': '{{params.api_key}}', 'X-Trace': '{{params.header_secret}}', 'X-Echo': 'key={{params.api_key}}' },
      json: { file: '{{params.body_secret}}' },
    },
    expect: { status: 200, body_regex: '{{params.error_secret}}' },
  };
  const params = {
    api_key: '${PATROL_SECRET_KEY}',
    path_secret: '${PATROL_SECRET_URL_PATH}',
    query_secret: '${PATROL_SECRET_QUERY}',
    header_secret: '${PATROL_SECRET_HEADER}',
    body_secret: '${PATROL_SECRET_BODY}',
    error_secret: '${PATROL_SECRET_ERROR}',
  };
  const knobs = { password: '${PATROL_SECRET_PASSWORD}', platformUrl: sim.url, params, extraCalls: [leaky] };
  writeFileSync(file, ocrConfig(knobs));
  const env = { ...SECRET_ENV, PATROL_SECRET_KEY: apiKey, PATROL_SECRET_PASSWORD: password };
  const mine = [apiKey, password];
  t.after(() => sim.close());
  const p = await startPatrol(['serve', `--config.file=${file}`, '--web.listen-address=127.0.0.1:0', `--storage.path=${db}`], env);
  try {
    await fetch(`${p.url}/api/rounds`, { method: 'POST' });
    const latest = await eventually(async () => {
      const r = await fetch(`${p.url}/api/rounds/latest`);
      return r.status === 200 ? await r.text() : undefined;
    }, 30_000);
    assert.match(latest, /"verdict":"call_failed"/, 'the leaky call failed as intended');
    assert.match(latest, /\/v1\/files\/<redacted>\?note=<redacted>/, 'the request excerpt had the secrets, redacted');
    // A reload error quoting the value of a secret-bearing field.
    writeFileSync(file, ocrConfig({ ...knobs, callTimeout: '${PATROL_SECRET_KEY}' }));
    const reload = await (await fetch(`${p.url}/-/reload`, { method: 'POST' })).text();
    assert.match(reload, /call_timeout/);
    // The day of the round itself, not of the clock now (a round just before midnight is on its day).
    const day = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format((JSON.parse(latest) as { startedAt: number }).startedAt);
    const details = await (await fetch(`${p.url}/services/ocr`)).text();
    assert.match(details, /leaky/, 'the details page shows the failed call');
    const outputs: Record<string, string> = {
      metrics: await scrape(p.url),
      page: await (await fetch(`${p.url}/`)).text(),
      details,
      latest,
      history: await (await fetch(`${p.url}/api/rounds?date=${day}`)).text(),
      reload,
    };
    assert.match(outputs.history, /"rounds":\[\{/, 'the history of that day has the round');
    assert.equal(await p.stop('SIGTERM'), 0);
    outputs.logs = p.stderr() + p.stdout();
    assert.match(outputs.logs, /"msg":"round finished"/);
    // The history file as it is on disk (and its write-ahead log, if one is left).
    for (const f of [db, `${db}-wal`]) if (existsSync(f)) outputs[path.basename(f)] = readFileSync(f).toString('latin1');
    assert.ok(outputs['patrol.db'].includes('leaky'), 'the file holds the round');
    for (const [where, body] of Object.entries(outputs)) assertNoSecrets(body, where, mine);
  } finally {
    await p.stop('SIGKILL');
  }
});

test('run-once prints the table, and exits 1 when a verdict is not ok; --json for machines', async () => {
  const sim = await startSimulator({ lagMs: 100 });
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-'));
  const file = path.join(dir, 'patrol.yml');
  writeFileSync(file, ocrConfig({ platformUrl: sim.url }));
  try {
    const ok = await runPatrol(['run-once', `--config.file=${file}`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^service\s+before\s+after\s+expected\s+delta\s+metering ok\s+call ok\s+auth ok\s+verdict\s+reason$/m);
    assert.match(ok.stdout, /文字识别 \(ocr\)\s+\d+\s+\d+\s+1\s+1\s+yes\s+yes\s+yes\s+ok/);
    assert.match(ok.stdout, /执行 1  成功 1  失败 0/);

    sim.setFaults('ocr', { double: true });
    const bad = await runPatrol(['run-once', `--config.file=${file}`, '--json']);
    assert.equal(bad.code, 1);
    const round = JSON.parse(bad.stdout) as { services: { verdict: string; reason: string }[] };
    assert.equal(round.services[0].verdict, 'metering_mismatch');
    assert.match(round.services[0].reason, /over by 1/);

    const broken = await runPatrol(['run-once', '--config.file=test/fixtures/config/bad-cron-timezone.yml']);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /global\.schedule \(line 2\)/);
  } finally {
    await sim.close();
  }
});

interface ApiRound { id: string; startedAt: number; aborted: boolean; services: { serviceId: string; verdict: string; reason: string }[]; abortedServices?: { serviceId: string; reason: string }[] }

async function latestRound(url: string): Promise<ApiRound | undefined> {
  const r = await fetch(`${url}/api/rounds/latest`);
  return r.status === 200 ? ((await r.json()) as ApiRound) : undefined;
}

test('SIGTERM mid-round: what it finished is kept, the rest is aborted, not failed, in the history, the digest and /metrics after restart', async () => {
  const sim = await startSimulator({ lagMs: 200 });
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-'));
  const file = path.join(dir, 'patrol.yml');
  const db = tempDb();
  writeFileSync(file, ocrConfig({ callTimeoutMs: 30_000, roundTimeoutMs: 60_000, serviceExtra: nlpService(), platformUrl: sim.url }));
  const args = ['serve', `--config.file=${file}`, '--web.listen-address=127.0.0.1:0', `--storage.path=${db}`];
  let p = await startPatrol(args);
  try {
    // Round 1: ocr fails (a failure streak of 1), nlp is ok.
    sim.setFaults('ocr', { error5xx: true });
    assert.equal((await fetch(`${p.url}/api/rounds`, { method: 'POST' })).status, 202);
    const first = await eventually(() => latestRound(p.url), 60_000, 'round 1');
    assert.deepEqual(first.services.map((s) => [s.serviceId, s.verdict]), [['ocr', 'call_failed'], ['nlp', 'ok']]);

    // Round 2: ocr's call hangs; nlp finishes; then the exporter is stopped.
    sim.setFaults('ocr', { slowMs: 20_000 });
    const calls = sim.stats().calls.ocr ?? 0;
    assert.equal((await fetch(`${p.url}/api/rounds`, { method: 'POST' })).status, 202);
    await eventually(async () => ((sim.stats().calls.ocr ?? 0) > calls && /一轮巡检正在进行：已完成 1\/2 个服务/.test(await (await fetch(`${p.url}/`)).text()) ? true : undefined), 60_000, 'nlp done, ocr in flight');
    assert.equal(await p.stop('SIGTERM'), 0);
    assert.doesNotMatch(p.stderr(), /not settled: shutdown/);

    // The history: round 2 holds nlp's verdict and ocr as aborted, never as a failure.
    const store = new SqliteStore(db);
    // The day of round 1 (the clock may have passed midnight since; two rounds a few seconds apart
    // that straddle midnight are two days, and then this test says so).
    const day = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(first.startedAt);
    let data;
    try {
      const rounds = store.byDay(day, 'Asia/Shanghai');
      assert.equal(rounds.length, 2);
      const cut = rounds[1];
      assert.equal(cut.aborted, true);
      assert.deepEqual(cut.services.map((s) => [s.serviceId, s.verdict]), [['nlp', 'ok']]);
      assert.deepEqual(cut.abortedServices?.map((a) => [a.serviceId, a.reason]), [['ocr', 'not finished: shutdown']]);
      assert.equal(store.db.prepare("SELECT count(*) FROM verdicts WHERE reason LIKE '%shutdown%'").pluck().get(), 0);
      // The digest: 2 rounds, 1 with a failure (round 1), 1 cut short; ocr 1 round (failed), nlp 2 (ok).
      data = queryDigest(store, day, 'Asia/Shanghai');
      assert.deepEqual(data, buildDigest(rounds, day, 'Asia/Shanghai'));
    } finally {
      store.close();
    }
    assert.deepEqual([data.rounds, data.failedRounds, data.abortedRounds], [2, 1, 1]);
    assert.deepEqual(data.services.map((s) => [s.serviceId, s.rounds, s.ok]), [['nlp', 2, 2], ['ocr', 1, 0]]);
    assert.deepEqual([data.latest?.run, data.latest?.ok, data.latest?.failed, data.latest?.aborted], [1, 1, 0, 1]);

    // Between the two lives, someone else uses the nlp service with valid credentials. (Not ocr:
    // a unit there could be the cut call's own charge, which the next round rightly does not
    // report as someone else's.)
    sim.clearFaults();
    const used = sim.usage('5f3a9c01', 'nlp');
    const other = await fetch(`${sim.url}/v1/nlp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-appid': '5f3a9c01', 'x-api-key': 'demo-api-key-0001' }, body: '{"text":"x"}' });
    assert.equal(other.status, 200);
    await eventually(async () => (sim.usage('5f3a9c01', 'nlp') === used + 1 ? true : undefined), 60_000, 'the other call metered');

    // Second life: the failure streak is restored (the abort did not move it), and the first round
    // compares with the last reads in the history.
    p = await startPatrol(args);
    let m = parseMetrics(await scrape(p.url));
    assert.equal(sample(m, 'patrol_service_consecutive_failures', { service_id: 'ocr' }), 1);
    assert.equal(sample(m, 'patrol_service_consecutive_failures', { service_id: 'nlp' }), 0);
    assert.equal((await fetch(`${p.url}/api/rounds`, { method: 'POST' })).status, 202);
    const third = await eventually(async () => {
      const r = await latestRound(p.url);
      return r && r.id !== first.id && !r.aborted ? r : undefined;
    }, 30_000, 'round 3');
    assert.deepEqual(third.services.map((s) => [s.serviceId, s.verdict]), [['ocr', 'ok'], ['nlp', 'ok']], third.services.map((s) => s.reason).join(' | '));
    m = parseMetrics(await scrape(p.url));
    assert.equal(sample(m, 'patrol_service_consecutive_failures', { service_id: 'ocr' }), 0);
    assert.equal(sample(m, 'patrol_metering_unexplained_delta', { service_id: 'nlp' }), 1, 'the other call, seen across the restart');
    assert.equal(sample(m, 'patrol_metering_unexplained_delta', { service_id: 'ocr' }), 0);
    assert.equal(sample(m, 'patrol_metering_unexplained_units_total', { service_id: 'nlp' }), 1);
    assert.equal(sample(m, 'patrol_rounds_aborted_total'), 0);
    assert.equal(sample(m, 'patrol_rounds_total'), 1);
    assert.equal(await p.stop('SIGTERM'), 0);
  } finally {
    await p.stop('SIGKILL');
    await sim.close();
  }
});

test('metrics: a service a round did not finish keeps its previous values and counts; failure streaks count completed rounds', async () => {
  const metrics = new PatrolMetrics(new Registry(), 'test');
  metrics.setServices(parseConfig(ocrConfig({ serviceExtra: nlpService() }), 'test.yml').config.services);
  const at = Date.parse('2024-05-01T08:00:00+08:00');
  const read = async () => parseMetrics(await metrics.exposition(false));
  metrics.recordRound(round(at, [{ id: 'ocr', unexplained: { units: 0 } }, { id: 'nlp', verdict: 'call_failed' }]));
  metrics.recordRound(round(at + 60_000, [{ id: 'ocr', verdict: 'metering_mismatch', unexplained: { units: 2 } }], undefined, ['nlp']));
  let m = await read();
  assert.equal(sample(m, 'patrol_rounds_total'), 1);
  assert.equal(sample(m, 'patrol_rounds_aborted_total'), 1);
  assert.equal(sample(m, 'patrol_service_success', { service_id: 'ocr' }), 0);
  assert.equal(sample(m, 'patrol_metering_unexplained_delta', { service_id: 'ocr' }), 2);
  assert.equal(sample(m, 'patrol_metering_unexplained_units_total', { service_id: 'ocr' }), 2);
  // nlp: round 1's values stay, nothing counted for the round it did not finish.
  assert.equal(sample(m, 'patrol_service_success', { service_id: 'nlp' }), 0);
  assert.equal(sample(m, 'patrol_calls_total', { service_id: 'nlp' }), 1);
  assert.equal(sample(m, 'patrol_service_last_run_timestamp_seconds', { service_id: 'nlp' }), (at + 1000) / 1000);
  assert.equal(sample(m, 'patrol_metering_unexplained_delta', { service_id: 'nlp' }), undefined, 'never compared: no sample');
  assert.deepEqual([sample(m, 'patrol_service_consecutive_failures', { service_id: 'ocr' }), sample(m, 'patrol_service_consecutive_failures', { service_id: 'nlp' })], [1, 1]);
  // A midnight reset is neither a failure nor an ok; an ok ends the streak.
  metrics.recordRound(round(at + 120_000, [{ id: 'ocr', verdict: 'indeterminate' }, { id: 'nlp', verdict: 'count_query_failed' }]));
  metrics.recordRound(round(at + 180_000, [{ id: 'ocr', verdict: 'auth_failed' }, { id: 'nlp' }]));
  m = await read();
  assert.deepEqual([sample(m, 'patrol_service_consecutive_failures', { service_id: 'ocr' }), sample(m, 'patrol_service_consecutive_failures', { service_id: 'nlp' })], [2, 0]);
  assert.equal(sample(m, 'patrol_rounds_total'), 3);
  // A late charge (the previous round's shortfall, arrived after it stopped waiting) is nobody
  // else's usage: the gauge says 0, the units still count in the total.
  metrics.recordRound(round(at + 240_000, [{ id: 'ocr', unexplained: { units: 1, kind: 'late_charge' } }, { id: 'nlp', unexplained: { units: 3 } }]));
  m = await read();
  assert.equal(sample(m, 'patrol_metering_unexplained_delta', { service_id: 'ocr' }), 0);
  assert.equal(sample(m, 'patrol_metering_unexplained_units_total', { service_id: 'ocr' }), 3);
  assert.equal(sample(m, 'patrol_metering_unexplained_delta', { service_id: 'nlp' }), 3);
  assert.equal(sample(m, 'patrol_metering_unexplained_units_total', { service_id: 'nlp' }), 3);
});

test('kill -9 mid-round: what that round may have charged is not reported as unexplained; the round after compares again', async () => {
  const sim = await startSimulator({ lagMs: 200 });
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-'));
  const file = path.join(dir, 'patrol.yml');
  writeFileSync(file, ocrConfig({ callTimeoutMs: 30_000, roundTimeoutMs: 60_000, serviceExtra: nlpService(), platformUrl: sim.url }));
  const args = ['serve', `--config.file=${file}`, '--web.listen-address=127.0.0.1:0', `--storage.path=${tempDb()}`];
  let p = await startPatrol(args);
  const round = async (after?: string) => {
    assert.equal((await fetch(`${p.url}/api/rounds`, { method: 'POST' })).status, 202);
    return eventually(async () => {
      const r = await latestRound(p.url);
      return r && r.id !== after ? r : undefined;
    }, 30_000, 'a round');
  };
  try {
    const first = await round();
    assert.deepEqual(first.services.map((s) => s.verdict), ['ok', 'ok']);
    // nlp is charged and judged, ocr hangs: the process is killed before the round is saved.
    sim.setFaults('ocr', { slowMs: 20_000 });
    const used = sim.usage('5f3a9c01', 'nlp');
    assert.equal((await fetch(`${p.url}/api/rounds`, { method: 'POST' })).status, 202);
    await eventually(async () => (/一轮巡检正在进行：已完成 1\/2 个服务/.test(await (await fetch(`${p.url}/`)).text()) ? true : undefined), 60_000, 'nlp done');
    assert.equal(sim.usage('5f3a9c01', 'nlp'), used + 1);
    await p.stop('SIGKILL');
    sim.clearFaults();

    p = await startPatrol(args);
    assert.match(p.stderr(), /the last run stopped mid-round without saving it/);
    const third = await round(first.id);
    assert.deepEqual(third.services.map((s) => s.verdict), ['ok', 'ok']);
    let m = parseMetrics(await scrape(p.url));
    assert.equal(sample(m, 'patrol_metering_unexplained_delta', { service_id: 'nlp' }), undefined, 'not compared after the crash');
    assert.equal(sample(m, 'patrol_metering_unexplained_units_total', { service_id: 'nlp' }), 0);
    await round(third.id);
    m = parseMetrics(await scrape(p.url));
    assert.equal(sample(m, 'patrol_metering_unexplained_delta', { service_id: 'nlp' }), 0, 'compared again');
    assert.equal(sample(m, 'patrol_metering_unexplained_delta', { service_id: 'ocr' }), 0);
    assert.equal(await p.stop('SIGTERM'), 0);
    // A clean stop leaves nothing interrupted.
    p = await startPatrol(args);
    assert.doesNotMatch(p.stderr(), /stopped mid-round/);
  } finally {
    await p.stop('SIGKILL');
    await sim.close();
  }
});
