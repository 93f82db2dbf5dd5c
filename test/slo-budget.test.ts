// The digest's error budgets, from a SQLite history of 30 days of rounds (compact ok verdicts,
// failures as rows, findings, a count-query failure, a midnight reset, a service added late): the
// SLI counts equal what the exporter's counters add up for the same rounds and what the rounds in
// memory give, and `patrol digest` shows each service's budget left for its window.
//
//   node --import tsx --test test/slo-budget.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { digestCommand } from '../src/digest/cli.js';
import { budgetsOf, queryBudgets } from '../src/digest/budget.js';
import { digestMessageOf } from '../src/digest/mailer.js';
import { buildDigest } from '../src/digest/query.js';
import { parseConfig } from '../src/config/load.js';
import { PatrolMetrics } from '../src/metrics.js';
import { Redactor } from '../src/redact.js';
import { sliCountsOf } from '../src/store/sli.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { RoundResult } from '../src/types.js';
import { dayRange } from '../src/util/time.js';
import { silentLogger, STUB_PLATFORMS } from './helpers/harness.js';
import { parseMetrics, sample } from './helpers/process.js';
import { call, round, type ServiceSpec } from './helpers/rounds.js';

const TZ = 'Asia/Shanghai';
const DAY = '2024-05-30';
const H = 3_600_000;
const { start: dayStart, end: dayEnd } = dayRange(DAY, TZ);

/** 30 days of rounds every two hours, the last one in the reported day. */
function history(): RoundResult[] {
  const rounds: RoundResult[] = [];
  for (let k = 359; k >= 0; k--) {
    const at = dayEnd - k * 2 * H - 30 * 60_000;
    const ocr: ServiceSpec =
      k % 20 === 3
        ? { id: 'ocr', name: '文字识别', verdict: 'call_failed', calls: [call('a', 0.2), call('b', 0.3, false)] }
        : k % 50 === 7
          ? { id: 'ocr', name: '文字识别', verdict: 'metering_mismatch', calls: [call('a', 0.2), call('b', 0.3)] }
          : k === 91
            ? { id: 'ocr', name: '文字识别', verdict: 'count_query_failed', calls: [call('a', 0.2), call('b', 0.3)] }
            : k === 120
              ? { id: 'ocr', name: '文字识别', verdict: 'indeterminate', calls: [call('a', 0.2), call('b', 0.3)] }
              : { id: 'ocr', name: '文字识别', calls: [call('a', 0.2), call('b', 0.3)] };
    // Ok verdicts with a finding of usage between rounds are whole rows, not compact ones.
    const nlp: ServiceSpec = k % 30 === 0 ? { id: 'nlp', unexplained: { units: 2 } } : { id: 'nlp', unexplained: { units: 0 } };
    const specs = [ocr, nlp];
    // A service added three days ago: its figures start then.
    if (k < 36) specs.push(k === 5 ? { id: 'tts', verdict: 'call_failed' } : { id: 'tts' });
    rounds.push(round(at, specs));
  }
  return rounds;
}

const CONFIG = (db: string) => `
global:
  schedule: "0 */2 * * *"
  timezone: ${TZ}
  slo:
    availability: { objective: 99, window: 28d }
digest: { locale: en }
storage: { path: ${JSON.stringify(db)} }
${STUB_PLATFORMS}services:
${['ocr', 'nlp', 'tts']
  .map((id) => `  - id: ${id}\n    name: ${id === 'ocr' ? '文字识别' : id}\n    calls: [{ name: a, http: { url: "http://127.0.0.1:9/${id}" } }]\n${id === 'nlp' ? '    slo: { metering: { objective: 99.5, window: 7d } }\n' : ''}`)
  .join('')}`;

/** What the exporter's counters say for these rounds. */
function counters(rounds: RoundResult[]) {
  const metrics = new PatrolMetrics(new Registry(), 'test');
  for (const r of rounds) metrics.recordRound(r);
  return metrics;
}

test("SLI counts (and one service's verdicts) from the SQLite history equal the counters and the rounds in memory, over any stretch", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-slo-'));
  const store = new SqliteStore(path.join(dir, 'h.db'));
  try {
    const rounds = history();
    for (const r of rounds) store.save(r);
    // Whole days, a stretch that starts and ends inside hours, the reported day, the last 7 days.
    for (const [start, end] of [
      [dayEnd - 28 * 24 * H, dayEnd],
      [dayEnd - 7 * 24 * H + 17 * 60_000, dayEnd - 5 * H - 45 * 60_000],
      [dayStart, dayEnd],
      [0, dayEnd + H],
    ]) {
      const inside = rounds.filter((r) => r.startedAt >= start && r.startedAt < end);
      const byId = <T extends { serviceId: string }>(xs: T[]): T[] => [...xs].sort((a, b) => a.serviceId.localeCompare(b.serviceId));
      const fromSql = byId(store.sliCounts(start, end));
      const fromMemory = byId(sliCountsOf(rounds, start, end));
      assert.deepEqual(fromSql.map(({ firstAt: _, ...c }) => c), fromMemory.map(({ firstAt: _, ...c }) => c), `[${start}, ${end})`);
      // The uptime badge's counts: one service's verdicts, whole hours from the rollups, cut hours from the rounds.
      for (const id of ['ocr', 'nlp', 'tts']) {
        const expected: Record<string, number> = {};
        for (const r of inside) for (const v of r.services) if (v.serviceId === id) expected[v.verdict] = (expected[v.verdict] ?? 0) + 1;
        assert.deepEqual(store.serviceVerdicts(id, start, end), expected, `${id} over [${start}, ${end})`);
      }
      // Where the history starts: to the hour from the rollups.
      assert.deepEqual(fromSql.map((c) => c.firstAt), fromMemory.map((c) => Math.floor(c.firstAt / H) * H));
      const text = (await counters(inside).body(false, false)).toString();
      const m = parseMetrics(text);
      for (const c of fromSql) {
        const id = { service_id: c.serviceId };
        assert.deepEqual(
          [c.calls, c.failedCalls, c.checks, c.mismatches],
          [sample(m, 'patrol_calls_total', id), sample(m, 'patrol_call_failures_total', id), sample(m, 'patrol_metering_checks_total', id), sample(m, 'patrol_metering_mismatches_total', id)],
          `${c.serviceId} over [${start}, ${end})`,
        );
      }
    }
    // The whole history: the figures by hand. ocr: 360 rounds of 2 calls; failed calls where k % 20 == 3
    // (18 rounds); checks: every round but the count-query failure and the midnight reset; mismatches
    // where k % 50 == 7 (8 rounds).
    const all = new Map(store.sliCounts(0, dayEnd + H).map((c) => [c.serviceId, c]));
    assert.deepEqual([all.get('ocr')!.calls, all.get('ocr')!.failedCalls, all.get('ocr')!.checks, all.get('ocr')!.mismatches], [720, 18, 358, 8]);
    assert.deepEqual([all.get('nlp')!.calls, all.get('nlp')!.failedCalls, all.get('nlp')!.checks, all.get('nlp')!.mismatches], [360, 0, 360, 0]);
    assert.deepEqual([all.get('tts')!.calls, all.get('tts')!.failedCalls, all.get('tts')!.checks], [36, 1, 36]);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('patrol digest shows each service\'s budget left for its window, from the history file', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-slo-'));
  try {
    const db = path.join(dir, 'h.db');
    const rounds = history();
    const store = new SqliteStore(db);
    for (const r of rounds) store.save(r);
    const configFile = path.join(dir, 'patrol.yml');
    writeFileSync(configFile, CONFIG(db));
    const { config } = parseConfig(readFileSync(configFile, 'utf8'), configFile);

    // By hand, over the 28 days that end with the reported day: 336 rounds (k = 0..335).
    const in28 = rounds.filter((r) => r.startedAt >= dayEnd - 28 * 24 * H);
    assert.equal(in28.length, 336);
    const budgets = queryBudgets(store, config, dayEnd);
    store.close();
    const ocrAvail = budgets.find((b) => b.serviceId === 'ocr' && b.sli === 'availability')!;
    // 672 calls, failed where k % 20 == 3 and k < 336: 17 of them; objective 99 % (budget 1 %).
    assert.deepEqual({ good: ocrAvail.good, total: ocrAvail.total }, { good: 655, total: 672 });
    assert.ok(Math.abs(ocrAvail.remaining! - (1 - 17 / 672 / 0.01)) < 1e-12);
    const nlpMeter = budgets.find((b) => b.serviceId === 'nlp' && b.sli === 'metering')!;
    assert.deepEqual([nlpMeter.objective, nlpMeter.windowMs, nlpMeter.good, nlpMeter.total, nlpMeter.remaining], [99.5, 7 * 24 * H, 84, 84, 1]);
    const ttsAvail = budgets.find((b) => b.serviceId === 'tts' && b.sli === 'availability')!;
    assert.ok(ttsAvail.since !== null && ttsAvail.since > dayEnd - 4 * 24 * H, 'tts started three days ago');

    const redactor = new Redactor();
    const out = path.join(dir, 'digest.html');
    const outcome = await digestCommand({ configFile, date: DAY, out, redactor, logger: silentLogger });
    assert.ok(outcome.ok, outcome.ok ? '' : outcome.error);
    const html = readFileSync(out, 'utf8');
    const row = (id: string, sli: string) => {
      const m = new RegExp(`<tr class="budget (\\S+)" data-service="${id}" data-sli="${sli}"[^>]*>(.*?)</tr>`).exec(html);
      assert.ok(m, `no budget row for ${id} ${sli}`);
      return { state: m[1], cells: [...m[2].matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((c) => c[1]) };
    };
    // 1 - 17/672/0.01 = -1.5297...: overspent.
    assert.deepEqual(row('ocr', 'availability'), { state: 'spent', cells: ['文字识别', 'availability', '99%', '28d', '655/672', '-153.0% (exhausted)'] });
    // Metering of ocr: 336 rounds, one count-query failure (k = 91) and one reset (k = 120) judged
    // nothing; mismatches where k % 50 == 7 and k < 336 (7 of them); objective 99.9 %.
    assert.deepEqual(row('ocr', 'metering'), { state: 'spent', cells: ['文字识别', 'metering accuracy', '99.9%', '28d', '327/334', `${(Math.floor((1 - 7 / 334 / 0.001) * 1000) / 10).toFixed(1)}% (exhausted)`] });
    assert.deepEqual(row('nlp', 'metering'), { state: 'ok', cells: ['nlp', 'metering accuracy', '99.5%', '7d', '84/84', '100.0%'] });
    const tts = row('tts', 'availability');
    // Its first round: 70.5 hours before the end of 2024-05-30 (+08:00).
    assert.equal(tts.cells[3], '28d (history since 2024-05-28)');
    assert.equal(tts.cells[4], '35/36');
    // 1 - (1/36)/0.01 < 0
    assert.equal(tts.state, 'spent');

    const text = await digestCommand({ configFile, date: DAY, out: path.join(dir, 'digest.txt'), redactor, logger: silentLogger });
    assert.ok(text.ok);
    const plain = readFileSync(path.join(dir, 'digest.txt'), 'utf8');
    assert.match(plain, /Error budgets \(SLO\):\n {2}Service +SLI +Objective +Window +Good\/total +Budget left\n! 文字识别 +availability +99% +28d +655\/672 +-153\.0% \(exhausted\)\n/);
    assert.match(plain, /\n {2}nlp +metering accuracy +99\.5% +7d +84\/84 +100\.0%\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the budget table in Chinese, names escaped and secrets redacted in both parts', () => {
  const hostile = `<img src=x onerror=alert(1)> ${'s3cr3t-token-1'}`;
  const { config } = parseConfig(CONFIG('h.db').replace('name: nlp', `name: "${hostile}"`), 'patrol.yml');
  const counts = (windowMs: number) =>
    sliCountsOf(history(), dayEnd - windowMs, dayEnd).map((c) => (c.serviceId === 'nlp' ? { ...c, name: hostile } : c));
  const budgets = budgetsOf(config, counts, dayEnd);
  const data = { ...buildDigest(history(), DAY, TZ), budgets };
  const redact = (t: string) => t.replaceAll('s3cr3t-token-1', '<redacted>');
  const message = digestMessageOf(data, DAY, { timezone: TZ, locale: 'zh', subjectTemplate: '巡检 {{date}}', redact });
  assert.match(message.html, /<h3>错误预算（SLO）<\/h3>/);
  assert.match(message.html, /<td[^>]*>文字识别<\/td><td[^>]*>可用性<\/td><td[^>]*>99%<\/td><td[^>]*>28d<\/td><td[^>]*>655\/672<\/td><td[^>]*>-153\.0% \(已耗尽\)<\/td>/);
  assert.ok(!message.html.includes('<img') && message.html.includes('&lt;img src=x onerror=alert(1)&gt;'), 'the name is text');
  assert.ok(!message.html.includes('s3cr3t') && !message.text.includes('s3cr3t'));
  assert.match(message.text, /错误预算（SLO）:\n/);
  // Plain text is not markup: the name stands as it is, its secret redacted.
  assert.match(message.text, /\n {2}<img src=x onerror=alert\(1\)> <redacted> +扣量准确性 +99\.5% +7d +84\/84 +100\.0%\n/);
});
