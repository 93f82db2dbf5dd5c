// The exporter's schedule and per-service gauges, in process against the simulated platform:
// a bad reload must not stop the rounds, the next-round gauge follows the cron, and each gauge
// reports its own part of a round (the call, the counter read, the auth check, the metering),
// checked on rounds that are not ok, where the parts disagree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Exporter } from '../src/exporter.js';
import { PatrolMetrics } from '../src/metrics.js';
import { Redactor } from '../src/redact.js';
import { startSimulator, type Simulator } from '../src/sim/platform.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { ocrConfig, silentLogger, type ConfigKnobs } from './helpers/harness.js';
import { eventually, parseMetrics, sample } from './helpers/process.js';
import { assertNoSecrets } from './helpers/secrets.js';

interface Running {
  exporter: Exporter;
  metrics: PatrolMetrics;
  read: () => Promise<Map<string, number>>;
  setConfig: (knobs: ConfigKnobs) => void;
}

async function withExporter(sim: Simulator, knobs: ConfigKnobs, schedule: boolean, fn: (r: Running) => Promise<void>): Promise<void> {
  const textOf = (k: ConfigKnobs) => ocrConfig({ ...k, platformUrl: sim.url });
  let current = textOf(knobs);
  const metrics = new PatrolMetrics(new Registry(), 'test');
  const exporter = new Exporter({ configText: () => current, logger: silentLogger, metrics, store: new SqliteStore(':memory:'), redactor: new Redactor() });
  await exporter.start(schedule);
  try {
    await fn({ exporter, metrics, read: async () => parseMetrics(await metrics.exposition(false)), setConfig: (k) => (current = textOf(k)) });
  } finally {
    await exporter.stop();
  }
}

/** The next time a yearly cron "0 0 D 1 *" fires in Asia/Shanghai (UTC+8, no DST), in Unix seconds. */
function nextJanuary(dayOfMonth: number, now = Date.now()): number {
  const year = Number(new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric' }).format(now));
  for (const y of [year, year + 1]) {
    const at = Date.parse(`${y}-01-${String(dayOfMonth).padStart(2, '0')}T00:00:00+08:00`);
    if (at > now) return at / 1000;
  }
  throw new Error('unreachable');
}

test('a bad reload keeps the schedule: rounds go on, the next-round gauge stays set', async () => {
  const sim = await startSimulator({ lagMs: 0 });
  try {
    const everySecond: ConfigKnobs = { settleTimeoutMs: 1000, schedule: '* * * * * *' };
    await withExporter(sim, everySecond, true, async ({ exporter, read, setConfig }) => {
      await eventually(async () => ((sample(await read(), 'patrol_rounds_total') ?? 0) >= 1 ? true : undefined), 30_000, 'a scheduled round');
      setConfig({ ...everySecond, schedule: 'not cron' });
      const outcome = await exporter.reload();
      assert.equal(outcome.ok, false);
      const after = await read();
      assert.equal(sample(after, 'patrol_config_last_reload_successful'), 0);
      const before = sample(after, 'patrol_rounds_total')!;
      // Two more rounds on the old schedule (each second), however slow the machine.
      await eventually(async () => ((sample(await read(), 'patrol_rounds_total') ?? 0) >= before + 2 ? true : undefined), 30_000, 'rounds after the bad reload');
      const next = sample(await read(), 'patrol_next_round_timestamp_seconds');
      assert.ok(next !== undefined && next > Date.now() / 1000 - 1, `next round ${next}`);
    });
  } finally {
    await sim.close();
  }
});

test('patrol_next_round_timestamp_seconds is when the cron fires next, and follows a reload', async () => {
  const sim = await startSimulator({ lagMs: 0 });
  try {
    const yearly: ConfigKnobs = {}; // schedule "0 0 1 1 *": midnight on January 1st, Asia/Shanghai
    await withExporter(sim, yearly, true, async ({ exporter, read, setConfig }) => {
      assert.equal(sample(await read(), 'patrol_next_round_timestamp_seconds'), nextJanuary(1));
      setConfig({ ...yearly, schedule: '0 0 2 1 *' });
      assert.deepEqual(await exporter.reload(), { ok: true });
      assert.equal(sample(await read(), 'patrol_next_round_timestamp_seconds'), nextJanuary(2));
    });
    // Without a schedule (run-once, tests) there is no next round: 0.
    await withExporter(sim, yearly, false, async ({ read }) => {
      assert.equal(sample(await read(), 'patrol_next_round_timestamp_seconds'), 0);
    });
  } finally {
    await sim.close();
  }
});

test('per-service gauges on rounds that are not ok: each reports its own part', async () => {
  const sim = await startSimulator({ lagMs: 0 });
  try {
    await withExporter(sim, { settleTimeoutMs: 1000 }, false, async ({ exporter, metrics, read }) => {
      const id = { service_id: 'ocr' };
      const run = async () => {
        const r = await exporter.runRound('api');
        assert.ok(r, 'a round started');
        const result = await r;
        const m = await read();
        assertNoSecrets(await metrics.exposition(false), '/metrics', ['demo-api-key-0001', 'demo-password']);
        return { verdict: result.services[0].verdict, reason: result.services[0].reason, m };
      };
      const gauges = (m: Map<string, number>) => ({
        service: sample(m, 'patrol_service_success', id),
        call: sample(m, 'patrol_call_success', id),
        countQuery: sample(m, 'patrol_count_query_success', id),
        metering: sample(m, 'patrol_metering_success', id),
        auth: sample(m, 'patrol_auth_check_success', { ...id, check: 'wrong_key' }),
      });

      sim.setFaults('ocr', { error5xx: true });
      let r = await run();
      assert.equal(r.verdict, 'call_failed', r.reason);
      assert.deepEqual(gauges(r.m), { service: 0, call: 0, countQuery: 1, metering: 1, auth: 1 });

      sim.clearFaults();
      sim.setGlobalFaults({ malformedUsage: true });
      r = await run();
      assert.equal(r.verdict, 'count_query_failed', r.reason);
      assert.deepEqual(gauges(r.m), { service: 0, call: 1, countQuery: 0, metering: undefined, auth: 1 });

      sim.clearFaults();
      sim.setGlobalFaults({});
      sim.setFaults('ocr', { acceptBadCredentials: true });
      r = await run();
      assert.equal(r.verdict, 'auth_failed', r.reason);
      // The accepted bad credential was charged too: metering is off as well.
      assert.deepEqual(gauges(r.m), { service: 0, call: 1, countQuery: 1, metering: 0, auth: 0 });

      sim.clearFaults();
      sim.setFaults('ocr', { double: true });
      r = await run();
      assert.equal(r.verdict, 'metering_mismatch', r.reason);
      assert.deepEqual(gauges(r.m), { service: 0, call: 1, countQuery: 1, metering: 0, auth: 1 });
      assert.equal(sample(r.m, 'patrol_metering_delta', id), 2);
      assert.equal(sample(r.m, 'patrol_metering_expected_delta', id), 1);

      sim.clearFaults();
      r = await run();
      assert.equal(r.verdict, 'ok', r.reason);
      assert.deepEqual(gauges(r.m), { service: 1, call: 1, countQuery: 1, metering: 1, auth: 1 });
    });
  } finally {
    await sim.close();
  }
});
