// The digest's figures and rendering, from history the test builds (RoundResult objects saved into
// the store) and from real rounds against the simulated platform.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { parseConfig } from '../src/config/load.js';
import { buildDigest, spreadOf } from '../src/digest/query.js';
import { digestMessage, roundMessage } from '../src/digest/mailer.js';
import { dayIn, dayRange, shiftDay } from '../src/util/time.js';
import { Exporter } from '../src/exporter.js';
import { PatrolMetrics } from '../src/metrics.js';
import { Redactor } from '../src/redact.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { servicePage } from '../src/web/details.js';
import { ocrConfig, silentLogger, withSim } from './helpers/harness.js';
import { call, DAY, dayOfHistory, round, shanghai, tableRows } from './helpers/rounds.js';
import { assertNoSecrets } from './helpers/secrets.js';

const TZ = 'Asia/Shanghai';
const noRedact = (t: string) => t;
const compose = { timezone: TZ, locale: 'zh' as const, subjectTemplate: '开放平台服务调用巡检报告 {{date}}', redact: noRedact };

test('percentiles are nearest-rank over the millisecond histogram; nothing to measure is null', () => {
  const hist = (seconds: number[]) => new Map(seconds.reduce((m, s) => m.set(Math.round(s * 1000), (m.get(Math.round(s * 1000)) ?? 0) + 1), new Map<number, number>()));
  assert.deepEqual(spreadOf(hist([0.3, 0.1, 0.2])), { p50: 0.2, p95: 0.3, max: 0.3 });
  assert.deepEqual(spreadOf(hist(Array.from({ length: 100 }, (_, i) => i + 1))), { p50: 50, p95: 95, max: 100 });
  // Repeated values count each time: 95 fast calls and 5 slow ones.
  assert.deepEqual(spreadOf(hist([...Array.from({ length: 95 }, () => 0.05), ...Array.from({ length: 5 }, () => 2.5)])), { p50: 0.05, p95: 0.05, max: 2.5 });
  // Durations are kept to the millisecond (what the digest prints).
  assert.deepEqual(spreadOf(hist([0.12345, 0.1236])), { p50: 0.123, p95: 0.124, max: 0.124 });
  assert.equal(spreadOf(new Map()), null);
});

test('the day per service: rounds, success ratio, mismatches with direction and size, failures, latency, settle', () => {
  const data = buildDigest(dayOfHistory(), DAY, TZ);
  assert.equal(data.rounds, 3);
  assert.equal(data.failedRounds, 3);
  assert.deepEqual(data.services.map((s) => s.serviceId), ['ocr', 'nlp', 'tts']);
  const [ocr, nlp, tts] = data.services;
  assert.deepEqual([ocr.rounds, ocr.ok, ocr.successRatio], [3, 3, 1]);
  assert.deepEqual(ocr.latency, { p50: 0.2, p95: 0.3, max: 0.3 });
  assert.deepEqual(ocr.settle, { p50: 2, p95: 3, max: 3 });
  assert.deepEqual([nlp.rounds, nlp.ok, nlp.callFailures, nlp.countQueryFailures], [3, 1, 1, 0]);
  assert.deepEqual(nlp.mismatches.map((m) => [m.direction, m.size, m.expected, m.delta]), [['over', 1, 1, 2]]);
  assert.equal(nlp.mismatches[0].at, shanghai(DAY, '10:00:01'));
  assert.deepEqual([tts.ok, tts.countQueryFailures, tts.authFailures], [0, 1, 1]);
  assert.deepEqual(tts.mismatches.map((m) => [m.direction, m.size]), [['under', 1]]);
  assert.deepEqual(tts.settle, { p50: 2, p95: 2, max: 2 }, 'only the rounds that settled');
  assert.deepEqual(data.mismatches.map((m) => m.serviceId), ['nlp', 'tts']);
  // The latest round is the table.
  assert.deepEqual(data.latest && [data.latest.run, data.latest.ok, data.latest.failed], [3, 1, 2]);
});

test('the HTML part: summary line, the five columns with the values, red rows exactly for the failures, the day, the chart', () => {
  const m = digestMessage(dayOfHistory(), DAY, compose);
  assert.equal(m.subject, `开放平台服务调用巡检报告 ${DAY}`);
  assert.match(m.html, /执行 3，成功 1，失败 2/);
  assert.match(m.html, /<th[^>]*>服务名称<\/th><th[^>]*>今日调用量\(调用前\)<\/th><th[^>]*>今日调用量\(调用后\)<\/th><th[^>]*>扣量是否成功<\/th><th[^>]*>调用是否成功<\/th><\/tr>/);
  const rows = tableRows(m.html, 'round');
  assert.deepEqual(
    rows.map((r) => [r.cls, ...r.cells]),
    [
      ['ok', '文字识别', '12', '13', '成功', '成功'],
      // A failed call that was correctly not charged: metering ok, call failed. The columns are separate.
      ['fail', '自然语言处理', '24', '24', '成功', '失败'],
      ['fail', '语音合成', '40', '40', '失败', '成功'],
    ],
  );
  assert.equal((m.html.match(/<tr class="fail"[^>]*style="[^"]*background-color:#f8d0d0/g) ?? []).length, 2);
  const day = tableRows(m.html, 'day');
  assert.deepEqual(
    day.map((r) => r.cells.slice(0, 9)),
    [
      ['文字识别', '3', '100.0%', '0', '0', '0', '0', '0.200 / 0.300 / 0.300', '2 / 3'],
      ['自然语言处理', '3', '33.3%', '1', '0', '0', '1', '0.200 / 0.200 / 0.200', '2 / 2'],
      ['语音合成', '3', '0.0%', '1', '1', '1', '0', '0.200 / 0.200 / 0.200', '2 / 2'],
    ],
  );
  assert.deepEqual(
    tableRows(m.html, 'mismatches').map((r) => r.cells),
    [
      ['10:00:01', '自然语言处理', '多扣', '1', '1', '2'],
      ['16:00:01', '语音合成', '少扣', '1', '1', '0'],
    ],
  );
  // One strip per service, a mark per hour with rounds, coloured by its most serious verdict.
  // Table cells, not SVG: Gmail and Outlook desktop drop inline SVG.
  assert.ok(!/<svg/i.test(m.html), 'no SVG in the email');
  assert.equal((m.html.match(/<table class="strip"/g) ?? []).length, 3);
  assert.match(m.html, /<td [^>]*bgcolor="#ef6c00" data-verdict="metering_mismatch" title="10:00 1 扣量不符"/);
  assert.equal((m.html.match(/<td [^>]*data-verdict=/g) ?? []).length, 9, 'three hours with rounds per service');
  assert.match(m.html, /call analyse: status: expected 200, got 500/);
});

test('the plain-text part carries the same table, marks failing rows, and the day', () => {
  const { text } = digestMessage(dayOfHistory(), DAY, compose);
  assert.match(text, /^开放平台服务调用巡检报告 2024-05-01$/m);
  assert.match(text, /^执行 3，成功 1，失败 2$/m);
  assert.match(text, /^ {2}文字识别 +12 +13 +成功 +成功$/m);
  assert.match(text, /^! 自然语言处理 +24 +24 +成功 +失败$/m);
  assert.match(text, /^! 语音合成 +40 +40 +失败 +成功$/m);
  assert.match(text, /巡检 3 轮，其中 3 轮有失败/);
  assert.match(text, /16:00:01 +语音合成 +少扣 +1 +1 +0/);
  assert.ok(!text.includes('<'), 'no markup in the text part');
});

test('English locale', () => {
  const m = digestMessage(dayOfHistory(), DAY, { ...compose, locale: 'en', subjectTemplate: 'Patrol report {{ date }}' });
  assert.equal(m.subject, 'Patrol report 2024-05-01');
  assert.match(m.html, /Run 3, succeeded 1, failed 2/);
  assert.match(m.html, /<th[^>]*>Count today \(before\)<\/th>/);
  assert.match(m.text, /16:00:01 +语音合成 +under +1/);
});

test('a day without rounds says so', () => {
  const m = digestMessage([], DAY, compose);
  assert.match(m.html, /当日没有巡检记录/);
  assert.match(m.text, /当日没有巡检记录/);
});

test('hostile names and huge bodies are escaped and cut; secrets never appear', () => {
  const secret = 'sk-live-0123456789abcdef';
  const redactor = new Redactor([secret]);
  const hostile = `<script>alert("x")</script>'"&${secret}`;
  const huge = `${'<b>'.repeat(10)}${'A'.repeat(10 * 1024 * 1024)}`;
  const r = round(shanghai(DAY, '09:00:00'), [
    { id: 'evil', name: hostile, verdict: 'call_failed', reason: `${secret} ${huge}`, calls: [call('c', 0.1, false, { responseExcerpt: huge, reason: huge })] },
  ]);
  const m = digestMessage([r], DAY, { ...compose, subjectTemplate: `Report {{date}} ${secret}\r\nBcc: x@example.com`, redact: (t) => redactor.redact(t) });
  for (const part of [m.subject, m.html, m.text]) {
    assertNoSecrets(part, 'the digest', [secret]);
    assert.ok(part.length < 100_000, `cut (${part.length} characters)`);
  }
  assert.ok(!/[\r\n]/.test(m.subject), 'the subject is one header line');
  assert.ok(!m.html.includes('<script>'), 'no live script tag in the HTML part');
  // The text part is text (no markup is interpreted) but carries no control characters.
  assert.ok(!/[\u0000-\u0008\u000b-\u001f]/.test(m.text));
  assert.match(m.html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;&#39;&quot;&amp;&lt;redacted&gt;/);
  assert.ok(!m.html.includes('<b><b>'), 'markup in a body is escaped');
});

test('restart in the middle of the day: the evening digest includes the morning rounds', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-digest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'patrol.db');
  const [morning, midday, evening] = dayOfHistory();
  const first = new SqliteStore(file);
  first.save(morning);
  first.save(midday);
  first.close(); // the exporter stops (or crashes after its last commit)
  const second = new SqliteStore(file);
  t.after(() => second.close());
  second.save(evening);
  const data = buildDigest(second.byDay(DAY, TZ), DAY, TZ);
  assert.equal(data.rounds, 3);
  assert.deepEqual(data.services.map((s) => s.rounds), [3, 3, 3]);
  assert.equal(data.latest?.id, evening.id);
  assert.deepEqual(digestMessage(second.byDay(DAY, TZ), DAY, compose), digestMessage(dayOfHistory().map((r, i) => ({ ...r, id: [morning, midday, evening][i].id })), DAY, compose));
});

test('day boundaries follow the timezone', () => {
  assert.deepEqual(dayRange('2024-05-01', 'Asia/Shanghai'), { start: Date.parse('2024-04-30T16:00:00Z'), end: Date.parse('2024-05-01T16:00:00Z') });
  // A DST day in New York has 23 hours.
  const { start, end } = dayRange('2024-03-10', 'America/New_York');
  assert.equal(end - start, 23 * 3_600_000);
  assert.equal(shiftDay('2024-03-01', -1), '2024-02-29');
});

test('run-once --mail content: one round, the table and the summary, without the day section', () => {
  const m = roundMessage(dayOfHistory()[2], compose);
  assert.match(m.html, /执行 3，成功 1，失败 2/);
  assert.equal(tableRows(m.html, 'round').length, 3);
  assert.ok(!m.html.includes('class="day"'));
});

test('real rounds against the simulator, stored in SQLite, make the digest', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-digest-sim-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await withSim({ lagMs: 50 }, async (sim) => {
    const text = ocrConfig({ settleTimeoutMs: 1500, pollMs: 50 });
    const store = new SqliteStore(path.join(dir, 'patrol.db'));
    const redactor = new Redactor();
    const exporter = new Exporter({ configText: () => text, loadOptions: { vars: { platform_url: sim.url } }, logger: silentLogger, metrics: new PatrolMetrics(new Registry(), 'test'), store, redactor });
    await exporter.start(false);
    const first = await exporter.runRound('cli')!;
    assert.equal(first.services[0].verdict, 'ok');
    sim.setFaults('ocr', { error5xx: true });
    const second = await exporter.runRound('cli')!;
    assert.equal(second.services[0].verdict, 'call_failed');
    const day = dayIn(TZ, second.startedAt);
    const loaded = parseConfig(text, 'test.yml', { vars: { platform_url: sim.url } });
    const m = digestMessage(store.byDay(day, TZ), day, { ...compose, subjectTemplate: loaded.config.digest.subject });
    await exporter.stop();
    const before = second.services[0].before;
    assert.ok(before?.ok);
    const rows = tableRows(m.html, 'round');
    assert.deepEqual(rows.map((r) => [r.cls, ...r.cells]), [['fail', '文字识别', String(before.value), String(before.value), '成功', '失败']]);
    assert.deepEqual(tableRows(m.html, 'day').map((r) => r.cells.slice(0, 3)), [['文字识别', '2', '50.0%']]);
    assert.match(m.subject, new RegExp(`开放平台服务调用巡检报告 ${day}`));
  });
});

test('a busy day stays a readable email: hourly marks, and at most 100 mismatches listed one by one', () => {
  const day = '2024-05-01';
  const rounds = [];
  for (let i = 0; i < 300; i++) {
    const at = shanghai(day, `${String(Math.floor(i / 13)).padStart(2, '0')}:${String((i * 4) % 60).padStart(2, '0')}:00`);
    rounds.push(round(at, [{ id: 'ocr', verdict: i % 2 === 0 ? 'metering_mismatch' : 'ok' }]));
  }
  const m = digestMessage(rounds, day, { timezone: 'Asia/Shanghai', locale: 'en', subjectTemplate: 'digest {{date}}', redact: (x) => x });
  const strip = /<table class="strip"[\s\S]*?<\/table>/.exec(m.html)?.[0] ?? '';
  const marks = (strip.match(/<td /g) ?? []).length;
  assert.ok(marks > 0 && marks <= 24, `one mark per hour at most (${marks})`);
  assert.equal((m.html.match(/<tr class="mismatch"/g) ?? []).length, 100);
  assert.match(m.html, /and 50 more, not listed/);
  assert.match(m.text, /and 50 more, not listed/);
});

test('a day with a restart mid-round and usage between rounds: aborted services in no figure, unexplained units listed with time and explanation', () => {
  const rounds = [
    round(shanghai(DAY, '09:00:00'), [{ id: 'ocr', name: '文字识别' }, { id: 'nlp', name: '自然语言处理', verdict: 'metering_mismatch', after: 21, before: 21 }]),
    // Stopped mid-round: ocr finished, nlp did not.
    round(shanghai(DAY, '09:05:00'), [{ id: 'ocr', name: '文字识别', unexplained: { units: 0 } }], undefined, ['nlp']),
    // After the restart: nlp's missing unit arrived late; ocr's counter moved by 3 that nobody here made.
    round(shanghai(DAY, '09:10:00'), [
      { id: 'ocr', name: '文字识别', before: 14, unexplained: { units: 3 } },
      { id: 'nlp', name: '自然语言处理', before: 22, unexplained: { units: 1, kind: 'late_charge', lag: { min: 3, max: 42.5 } } },
    ]),
  ];
  const data = buildDigest(rounds, DAY, TZ);
  assert.deepEqual([data.rounds, data.failedRounds, data.abortedRounds], [3, 1, 1]);
  assert.deepEqual(data.services.map((s) => [s.serviceId, s.rounds, s.ok, s.mismatches.map((m) => `${m.direction} ${m.size}`), s.unexplainedUnits]), [
    ['ocr', 3, 3, [], 3],
    ['nlp', 2, 1, ['under 1'], 1],
  ]);
  assert.deepEqual(data.unexplained.map((u) => [u.serviceId, u.units, u.kind]), [['nlp', 1, 'late_charge'], ['ocr', 3, 'unexplained']]);

  const m = digestMessage(rounds, DAY, compose);
  assert.deepEqual(
    tableRows(m.html, 'unexplained').map((r) => [r.cls, ...r.cells.slice(0, 4)]),
    [
      ['late-charge', '09:10:00', '自然语言处理', '1', '延迟扣量 3.0–42.5 s'],
      ['unexplained', '09:10:00', '文字识别', '3', '来源不明'],
    ],
  );
  assert.deepEqual(tableRows(m.html, 'day').map((r) => [r.cells[0], r.cells[9]]), [['文字识别', '3'], ['自然语言处理', '1']]);
  assert.match(m.html, /巡检 3 轮，其中 1 轮有失败; 1 轮因巡检程序停止而中断/);
  assert.match(m.text, /轮间额外用量明细.*:\n.*\n.*09:10:00\s+自然语言处理\s+1\s+延迟扣量 3\.0–42\.5 s\s+late charge of 1/);
  assert.match(m.text, /09:10:00\s+文字识别\s+3\s+来源不明\s+3 units nobody made/);

  // The latest round is the one after the restart; had it been the one cut short, the table says how many it did not finish.
  const cut = digestMessage(rounds.slice(0, 2), DAY, compose);
  assert.match(cut.html, /执行 1，成功 1，失败 0/);
  assert.match(cut.html, /另有 1 个服务因巡检程序停止而未完成/);
  assert.match(cut.text, /另有 1 个服务因巡检程序停止而未完成/);
});

test('the details page shows usage between rounds with its explanation', () => {
  const [r] = [round(shanghai(DAY, '09:10:00'), [{ id: 'ocr', name: '文字识别', unexplained: { units: 2 } }])];
  const page = servicePage('ocr', [{ roundId: r.id, roundStartedAt: r.startedAt, result: r.services[0] }], { timezone: TZ });
  assert.match(page, /<tr class="fail"><th>轮间额外用量<\/th><td>2 \(来源不明\)<\/td><td colspan="2" class="long"><div>2 units nobody made<\/div><\/td><\/tr>/);
  const quiet = round(shanghai(DAY, '09:10:00'), [{ id: 'ocr', unexplained: { units: 0 } }]);
  assert.doesNotMatch(servicePage('ocr', [{ roundId: quiet.id, roundStartedAt: quiet.startedAt, result: quiet.services[0] }], { timezone: TZ }), /轮间额外用量/);
});
