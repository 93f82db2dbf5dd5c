// History and digest: 30 days of one-minute rounds for 100 services in SQLite. Insert cost per
// round, file size (goal: 300 MB), time to build one day's digest (goal: 100 ms) as the digest
// schedule builds it (the day's figures, each service's SLO budget over its 28-day window, the
// message), the status page's day table, pruning in steps (goal: no step over 50 ms).
//   npx tsx bench/history.ts [--days=30] [--services=100] [--interval-s=60] [--saved-days=3]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { sloDefaultsSchema } from '../src/config/slo.js';
import { withBudgets } from '../src/digest/budget.js';
import { digestMessageOf } from '../src/digest/mailer.js';
import { queryDigest } from '../src/digest/query.js';
import { SLOT_MS } from '../src/store/rollup.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { RoundResult, ServiceResult, Verdict } from '../src/types.js';
import { dayIn } from '../src/util/time.js';
import { table } from './common.js';

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const days = Number(arg('days', '30'));
const services = Number(arg('services', '100'));
const intervalS = Number(arg('interval-s', '60'));
const savedDays = Number(arg('saved-days', '3'));
const TZ = 'Asia/Shanghai';

/** A realistic service result: mostly ok, now and then a failure, with excerpts like real calls. */
function serviceResult(i: number, at: number, n: number): ServiceResult {
  const roll = (n * 7919 + i * 104729) % 1000;
  const verdict: Verdict = roll < 985 ? 'ok' : roll < 992 ? 'metering_mismatch' : roll < 997 ? 'call_failed' : 'count_query_failed';
  const before = 1000 + n;
  const delta = verdict === 'metering_mismatch' ? 3 : 2;
  const call = (name: string) => ({
    name, kind: 'http' as const, ok: verdict !== 'call_failed', durationSeconds: 0.05 + (roll % 50) / 1000, status: verdict === 'call_failed' ? 500 : 200,
    reason: verdict === 'call_failed' ? 'status: expected 200, got 500' : '', failures: [], units: verdict === 'call_failed' ? 0 : 1, extracted: {},
    requestExcerpt: `POST https://api.example.com/v1/svc-${i}\ncontent-type: application/json\nx-api-key: <redacted>\n\n{"text":"patrol"}`,
    responseExcerpt: `{"code":0,"message":"success","sid":"sid${n}x${i}","data":{"result":"PATROL"}}`,
  });
  return {
    serviceId: `svc-${i}`, name: `服务 ${i}`, appId: 'app', verdict, reason: verdict === 'ok' ? '' : `${verdict} reason`, startedAt: at, finishedAt: at + 2500,
    before: { ok: true, value: before, at, day: dayIn(TZ, at) },
    after: verdict === 'count_query_failed' ? { ok: false, reason: 'counter read failed: timeout', at } : { ok: true, value: before + delta, at: at + 2500, day: dayIn(TZ, at) },
    delta: verdict === 'count_query_failed' ? null : delta, expectedDelta: 2, meteringMode: 'exact', meteringOk: verdict === 'count_query_failed' ? null : verdict !== 'metering_mismatch',
    callOk: verdict !== 'call_failed', authOk: true, countQueryOk: verdict !== 'count_query_failed', settleSeconds: 2.1,
    calls: [call('first'), call('second')],
    authChecks: [{ name: 'wrong_key', outcome: 'rejected', durationSeconds: 0.03, status: 401, reason: '' }],
  };
}

const dir = mkdtempSync(path.join(tmpdir(), 'patrol-history-'));
const file = path.join(dir, 'history.db');
const store = new SqliteStore(file);
try {
  // The newest `saved` days go through the exporter's own save path, one transaction per round:
  // the insert cost is measured there. The older days are copies of them made in SQL with shifted
  // times (same rows, same sizes), so that the 30-day file is built in seconds, not minutes.
  const perDay = Math.floor(86_400 / intervalS);
  const saved = Math.min(days, savedDays);
  // At an hour boundary, so the copies' rollups (shifted by whole days) never share one.
  const start = Math.floor((Date.now() - saved * 86_400_000) / SLOT_MS) * SLOT_MS;
  let n = 0;
  let insertMs = 0;
  for (let k = 0; k < saved * perDay; k++, n++) {
    const at = start + n * intervalS * 1000;
    const round: RoundResult = { id: `r${n}`, trigger: 'schedule', startedAt: at, finishedAt: at + 3000, durationSeconds: 3, aborted: false, services: Array.from({ length: services }, (_, i) => serviceResult(i, at, n)) };
    const t = performance.now();
    store.save(round);
    insertMs += performance.now() - t;
  }
  // Each table's columns as the file has them (they grow with migrations), the shifted ones rewritten.
  const copyOf = (table: string, rewrite: Record<string, string>, where: string) => {
    const columns = (store.db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[]);
    return store.db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) SELECT ${columns.map((c) => rewrite[c] ?? c).join(', ')} FROM ${table} WHERE ${where}`);
  };
  const copies = [
    copyOf('rounds', { id: 'id || @tag', started_at: 'started_at - @shift', finished_at: 'finished_at - @shift' }, "id NOT LIKE '%-c%'"),
    // Compact ok verdicts keep times relative to their round's start: copied as they are.
    copyOf('round_oks', { round_id: 'round_id || @tag' }, "round_id NOT LIKE '%-c%'"),
    // Shifted by whole days, so by whole hours.
    copyOf('rollups', { slot: 'slot - @slots', name_at: 'name_at - @shift' }, 'slot >= @first'),
    copyOf('verdicts', { round_id: 'round_id || @tag', started_at: 'started_at - @shift', finished_at: 'finished_at - @shift' }, "round_id NOT LIKE '%-c%'"),
  ];
  const first = Math.floor(start / SLOT_MS);
  const copy = store.db.transaction((shift: number, tag: string) => {
    const all = { shift, tag, slots: shift / SLOT_MS, first };
    const used = (sql: string) => Object.fromEntries(Object.entries(all).filter(([k]) => sql.includes(`@${k}`)));
    for (const c of copies) c.run(used(c.source));
  });
  for (let c = 1; c * saved < days; c++) copy(c * saved * 86_400_000, `-c${c}`);
  // The SLI sums per UTC day (where the history has them) follow from the copied hours, summed
  // as the store's migration does (copies shifted by days would overlap on the cut first day).
  if (store.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'sli_days'").get()) {
    store.db.exec(`DELETE FROM sli_days;
      INSERT INTO sli_days (day, service_id, name, name_at, calls, failed_calls, checks, mismatches)
        SELECT slot / 24, service_id, name, max(name_at), sum(calls), sum(failed_calls), sum(checks), sum(mismatches)
        FROM rollups WHERE calls IS NOT NULL GROUP BY slot / 24, service_id`);
  }
  n = (store.db.prepare('SELECT count(*) FROM rounds').pluck().get() as number);
  const size = statSync(file).size + (statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0);

  const day = dayIn(TZ, Date.now() - 2 * 86_400_000);
  // The services as a config names them, with the default objectives (28-day windows).
  const config = { global: { slo: sloDefaultsSchema.parse({}) }, services: Array.from({ length: services }, (_, i) => ({ id: `svc-${i}`, name: `服务 ${i}` })) };
  // Wall and CPU time of each part, per run: on a shared machine the wall time mostly measures
  // the other processes, the CPU time what the digest costs.
  const parts = ['whole digest', 'figures', 'budgets', 'message'] as const;
  const wall: Record<(typeof parts)[number], number[]> = { figures: [], budgets: [], message: [], 'whole digest': [] };
  const cpu: Record<(typeof parts)[number], number[]> = { figures: [], budgets: [], message: [], 'whole digest': [] };
  const part = <T>(name: (typeof parts)[number], fn: () => T): T => {
    const t = performance.now();
    const c = process.cpuUsage();
    const out = fn();
    const used = process.cpuUsage(c);
    wall[name].push(performance.now() - t);
    cpu[name].push((used.user + used.system) / 1000);
    return out;
  };
  let dayRounds = 0;
  let htmlBytes = 0;
  let budgetRows = 0;
  const loadBefore = loadavg()[0];
  for (let i = 0; i < 3; i++) {
    // What the digest schedule and `patrol digest` do (digest/scheduler.ts): figures from the
    // rollups, the budgets over each objective's window ending with the day, then the message.
    const message = part('whole digest', () => {
      const figures = part('figures', () => queryDigest(store, day, TZ));
      const data = part('budgets', () => withBudgets(figures, store, config as unknown as Parameters<typeof withBudgets>[2], Date.now()));
      dayRounds = data.rounds;
      budgetRows = data.budgets.filter((b) => b.total > 0).length;
      return part('message', () => digestMessageOf(data, day, { timezone: TZ, locale: 'zh', subjectTemplate: '开放平台服务调用巡检报告 {{date}}', redact: (x) => x }));
    });
    htmlBytes = message.html.length;
  }
  const loadAfter = loadavg()[0];
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  // The maintenance schedule prunes every hour, so a run deletes about an hour of rounds; a first
  // run after lowering the retention deletes days at once.
  const timed = <T>(fn: () => T): [T, number] => {
    const t = performance.now();
    return [fn(), performance.now() - t];
  };
  // The status page's day table (today per service and the last 60 rounds' verdicts).
  const overviewTimes: number[] = [];
  for (let i = 0; i < 3; i++) overviewTimes.push(timed(() => store.overview(day, TZ, 60))[1]);
  // Pruning runs in steps (as the maintenance schedule runs them, with the event loop free in between).
  const pruneInSteps = (before: number) => {
    let rounds = 0;
    const times: number[] = [];
    const cpuTimes: number[] = [];
    for (let more = true; more; ) {
      const cpu = process.cpuUsage();
      const [step, ms] = timed(() => store.pruneStep(before));
      const used = process.cpuUsage(cpu);
      rounds += step.done;
      more = step.more;
      times.push(ms);
      cpuTimes.push((used.user + used.system) / 1000);
    }
    return { rounds, steps: times.length, times, cpuTimes };
  };
  const pct = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * values.length) - 1)];
  const oldest = store.db.prepare('SELECT min(started_at) FROM rounds').pluck().get() as number;
  const [hour, hourMs] = timed(() => pruneInSteps(oldest + 3_600_000));
  const [day1, dayMs] = timed(() => pruneInSteps(oldest + 86_400_000));
  const [bulk, bulkMs] = timed(() => pruneInSteps(Date.now() - 7 * 86_400_000));

  table(`History: ${days} days of rounds every ${intervalS} s, ${services} services (SQLite, WAL)`, ['measure', 'value'], [
    ['rounds stored', n],
    ['service results stored', n * services],
    [`insert per round (ms, mean of ${saved * perDay} saves)`, insertMs / (saved * perDay)],
    ['file size (MB, with WAL)', size / 1024 / 1024],
    ['file size goal (MB)', 300],
    ...parts.flatMap((name) => [
      [`${name === 'whole digest' ? `whole digest of one day (${dayRounds} rounds, ${budgetRows} budgets)` : `  ${name}`}: wall ms, median of 3`, median(wall[name])],
      [`${name === 'whole digest' ? '  ' : '    '}CPU ms, median of 3`, median(cpu[name])],
    ]),
    ['digest goal (ms)', 100],
    ['  load average (1 min) before / after the digest runs', `${loadBefore.toFixed(1)} / ${loadAfter.toFixed(1)}`],
    ['digest HTML size (KB)', htmlBytes / 1024],
    ['status page day table, ms: best of 3', Math.min(...overviewTimes)],
    [`prune one hour (${hour.rounds} rounds), ms in all`, hourMs],
    [`prune the rest of a day (${day1.rounds} rounds), ms in all`, dayMs],
    [`prune down to 7 days (${bulk.rounds} rounds), ms in all`, bulkMs],
    [`  in ${bulk.steps} steps: step p50 ms`, pct(bulk.times, 50)],
    ['  step p99 ms', pct(bulk.times, 99)],
    ['  longest step ms (goal 50)', Math.max(...bulk.times, ...day1.times, ...hour.times)],
    ['  step CPU ms: p50', pct(bulk.cpuTimes, 50)],
    ['  step CPU ms: p99', pct(bulk.cpuTimes, 99)],
    ['  step CPU ms: max', Math.max(...bulk.cpuTimes)],
  ]);
} finally {
  store.close();
  if (process.env.KEEP_DB) process.stdout.write(`kept ${file}\n`);
  else rmSync(dir, { recursive: true, force: true });
}
