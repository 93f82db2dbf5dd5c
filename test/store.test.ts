// The SQLite history: what goes in comes out whole, it survives a reopen, old rounds are pruned,
// the schema is versioned, and a process killed with SIGKILL in the middle of writing leaves a file
// that passes PRAGMA integrity_check and holds only whole rounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { MIGRATIONS, SCHEMA_VERSION, SqliteStore, StoreError, verdictParams } from '../src/store/sqlite.js';
import type { RoundResult, ServiceResult } from '../src/types.js';
import { call, round, shanghai, storedRound } from './helpers/rounds.js';
import { buildDigest, queryDigest } from '../src/digest/query.js';
import { Outbox } from '../src/digest/outbox.js';
import { dayIn } from '../src/util/time.js';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Exporter } from '../src/exporter.js';
import { PatrolMetrics } from '../src/metrics.js';
import { Redactor } from '../src/redact.js';
import { startSimulator } from '../src/sim/platform.js';
import { MemoryStore } from '../src/store/memory.js';
import type { RoundStore } from '../src/store/types.js';
import type { CounterBaseline } from '../src/types.js';
import { ocrConfig, silentLogger } from './helpers/harness.js';
import { parseConfig } from '../src/config/load.js';
import { DigestJobs } from '../src/digest/scheduler.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a round comes back exactly as saved, by day in the timezone, and latest is the newest', (t) => {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  // 23:59 on the 1st in Shanghai is 15:59 UTC: the same UTC day as the next round, another local day.
  const late = round(shanghai('2024-05-01', '23:59:00'), [{ id: 'ocr', name: '文字识别' }, { id: 'nlp', verdict: 'metering_mismatch', calls: [call('a', 0.3), call('b', 1.5, false)] }]);
  const next = round(shanghai('2024-05-02', '00:01:00'), [{ id: 'ocr', verdict: 'count_query_failed' }]);
  store.save(late);
  store.save(next);
  // Failures come back whole; ok verdicts as their figures (stored()); the last round saved whole.
  assert.deepEqual(store.byDay('2024-05-01', 'Asia/Shanghai'), [storedRound(late)]);
  assert.deepEqual(store.byDay('2024-05-02', 'Asia/Shanghai'), [next]);
  assert.deepEqual(store.byDay('2024-05-01', 'UTC'), [storedRound(late), next]);
  assert.deepEqual(store.latest(), next);
  assert.deepEqual(store.recent(5), [next, storedRound(late)]);
  const nlp = store.serviceHistory('nlp', 10);
  assert.equal(nlp.length, 1);
  assert.deepEqual(nlp[0].result, late.services[1]);
  // A plain ok verdict is a compact tuple (store/compact.ts), not a row; the failures are rows.
  assert.equal(store.db.prepare("SELECT count(*) FROM verdicts WHERE service_id = 'ocr' AND round_id = ?").pluck().get(late.id), 0, 'no row for an ok verdict');
  assert.equal(store.db.prepare('SELECT count(*) FROM round_oks WHERE round_id = ?').pluck().get(late.id), 1);

  // The queryable columns carry the readings, the deltas, settle time, durations and reasons.
  const row = store.db.prepare("SELECT * FROM verdicts WHERE service_id = 'nlp'").get() as Record<string, unknown>;
  assert.equal(row.verdict, 'metering_mismatch');
  assert.equal(row.before_value, 100);
  assert.equal(row.after_value, 102);
  assert.equal(row.delta, 2);
  assert.equal(row.expected_delta, 1);
  assert.equal(row.metering_ok, 0);
  assert.equal(row.settle_seconds, 2);
  assert.deepEqual(JSON.parse(row.call_seconds as string), [{ call: 'a', kind: 'http', seconds: 0.3, status: 200 }, { call: 'b', kind: 'http', seconds: 1.5, status: 500 }]);
  assert.deepEqual(JSON.parse(row.call_reasons as string), [{ call: 'b', reason: 'status 500, expected 200' }]);
  const failedRead = store.db.prepare("SELECT after_value, after_error, delta, metering_ok FROM verdicts WHERE round_id = ?").get(next.id);
  assert.deepEqual(failedRead, { after_value: null, after_error: 'HTTP 500', delta: null, metering_ok: null });
});

test('history survives closing and reopening the file; the file is WAL and versioned', (t) => {
  const file = path.join(tempDir(t), 'sub', 'patrol.db');
  const morning = round(shanghai('2024-05-01', '08:00:00'), [{ id: 'ocr' }]);
  const first = new SqliteStore(file);
  first.save(morning);
  first.close();
  const again = new SqliteStore(file);
  t.after(() => again.close());
  assert.deepEqual(again.byDay('2024-05-01', 'Asia/Shanghai'), [storedRound(morning)]);
  assert.equal(again.schemaVersion, SCHEMA_VERSION);
  assert.equal(again.db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(again.integrityCheck(), 'ok');
});

test('a file from a newer version is refused with a clear error, not touched', (t) => {
  const file = path.join(tempDir(t), 'future.db');
  const db = new Database(file);
  db.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
  db.close();
  assert.throws(() => new SqliteStore(file), (err: unknown) => err instanceof StoreError && /newer than this patrol_exporter knows/.test(err.message));
  const check = new Database(file);
  assert.equal(check.pragma('user_version', { simple: true }), SCHEMA_VERSION + 5);
  check.close();
});

test('an unusable path is a StoreError naming the file', (t) => {
  // A directory that cannot exist: its parent is a regular file.
  const blocker = path.join(tempDir(t), 'plain-file');
  writeFileSync(blocker, 'x');
  const file = path.join(blocker, 'sub', 'here.db');
  assert.throws(() => new SqliteStore(file), (err: unknown) => err instanceof StoreError && err.message.includes(file));
});

test('saving a round id again replaces it whole', (t) => {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  const at = shanghai('2024-05-01', '10:00:00');
  store.save(round(at, [{ id: 'a' }, { id: 'b' }], 'same'));
  const replacement = round(at, [{ id: 'c' }], 'same');
  store.save(replacement);
  assert.deepEqual(store.latest(), replacement);
  assert.deepEqual(store.byDay('2024-05-01', 'Asia/Shanghai').map((r) => r.services.map((s) => s.serviceId)), [['c']]);
  // The rollups of that hour were rebuilt: only c is counted.
  assert.deepEqual(queryDigest(store, '2024-05-01', 'Asia/Shanghai').services.map((s) => [s.serviceId, s.rounds]), [['c', 1]]);
});

test('prune deletes old rounds with their verdicts and rollups; the outbox deletes delivered emails, never pending ones', (t) => {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  const old = shanghai('2024-03-01', '10:00:00');
  const recent = shanghai('2024-05-01', '10:00:00');
  store.save(round(old, [{ id: 'a' }, { id: 'b' }]));
  store.save(round(recent, [{ id: 'a' }]));
  const outbox = new Outbox(store.db);
  const sent = outbox.enqueue({ kind: 'digest', day: '2024-02-28', subject: 's', html: 'h', text: 't' }, old);
  outbox.markSent(sent.id, old);
  const pending = outbox.enqueue({ kind: 'digest', day: '2024-02-29', subject: 's', html: 'h', text: 't' }, old);
  assert.deepEqual(store.prune(shanghai('2024-04-01', '00:00:00')), { rounds: 1 });
  assert.equal(outbox.prune(shanghai('2024-04-01', '00:00:00')), 1);
  assert.equal(store.roundCount(), 1);
  assert.equal(store.db.prepare('SELECT count(*) FROM round_oks').pluck().get(), 1);
  assert.equal(store.db.prepare('SELECT count(*) FROM rollups').pluck().get(), 1, 'the old hour has no rollups left');
  assert.deepEqual(outbox.pending().map((m) => m.id), [pending.id]);
});

test('kill -9 while writing: the file passes integrity_check and holds only whole rounds', async (t) => {
  const file = path.join(tempDir(t), 'crash.db');
  const storeUrl = pathToFileURL(path.resolve('src/store/sqlite.ts')).href;
  // The child writes rounds of 25 services as fast as it can and says after each commit how many
  // it has committed. Bounded: at most 100000 rounds or 30 s, in case the parent never kills it.
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `
      const { SqliteStore } = await import(${JSON.stringify(storeUrl)});
      const store = new SqliteStore(${JSON.stringify(file)});
      const started = Date.now();
      const big = 'x'.repeat(4000);
      for (let i = 0; i < 100000 && Date.now() - started < 30000; i++) {
        const at = Date.now();
        const services = Array.from({ length: 25 }, (_, k) => ({
          serviceId: 's' + k, name: 'svc ' + k, appId: 'a', verdict: 'ok', reason: big, startedAt: at, finishedAt: at,
          before: { ok: true, value: i, at, day: 'd' }, after: { ok: true, value: i + 1, at, day: 'd' }, delta: 1, expectedDelta: 1,
          meteringMode: 'exact', meteringOk: true, callOk: true, authOk: null, countQueryOk: true, settleSeconds: 1,
          calls: [], authChecks: [],
        }));
        store.save({ id: 'r' + i, trigger: 'schedule', startedAt: at, finishedAt: at, durationSeconds: 0, aborted: false, services });
        process.stdout.write('saved ' + (i + 1) + '\\n');
      }
      `,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let committed = 0;
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const all = [...chunk.matchAll(/saved (\d+)/g)];
    if (all.length > 0) committed = Number(all.at(-1)![1]);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // 'close': the process has exited and everything it wrote to stdout has been read.
  const closed = new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_code, signal) => resolve(signal)));
  // Wait (bounded) until it has committed a good number of rounds, then kill it mid-stream.
  const deadline = Date.now() + 60_000;
  while (committed < 100 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
  assert.ok(committed >= 100, `the writer committed only ${committed} rounds: ${stderr}`);
  child.kill('SIGKILL');
  assert.equal(await closed, 'SIGKILL');

  const store = new SqliteStore(file);
  t.after(() => store.close());
  assert.equal(store.integrityCheck(), 'ok');
  const rounds = store.roundCount();
  // `committed` is now the last count it wrote before it died (the pipe was read to its end, so how
  // late the kill landed does not matter): every round it reported is there, and at most the one it
  // committed without living to say so.
  assert.ok(rounds === committed || rounds === committed + 1, `rounds ${rounds}, reported committed ${committed}`);
  const partial = store.recent(rounds).filter((r) => r.services.length !== 25);
  assert.deepEqual(partial, []);
  // The rollups were written in the same transactions: every saved verdict is counted once.
  assert.equal(store.db.prepare('SELECT sum(rounds) FROM rollups').pluck().get(), rounds * 25);
});

test('overview: today per service and the recent verdicts, from the columns', (t) => {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  const r1 = round(shanghai('2024-05-01', '23:50:00'), [{ id: 'a', name: 'A' }, { id: 'gone' }]);
  const r2 = round(shanghai('2024-05-02', '00:10:00'), [{ id: 'b', name: 'B' }, { id: 'a', name: 'A', verdict: 'call_failed' }]);
  const r3 = round(shanghai('2024-05-02', '00:20:00'), [{ id: 'b', name: 'B' }, { id: 'a', name: 'A' }]);
  for (const r of [r1, r2, r3]) store.save(r);
  const o = store.overview('2024-05-02', 'Asia/Shanghai', 2);
  assert.deepEqual(
    o.map((s) => [s.serviceId, s.roundsToday, s.okToday, s.recent.map((p) => p.verdict)]),
    [
      ['b', 2, 2, ['ok', 'ok']],
      ['a', 2, 1, ['call_failed', 'ok']],
    ],
  );
});

test('the digest computed in SQL equals the digest computed from the whole rounds', (t) => {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  const verdicts = ['ok', 'metering_mismatch', 'call_failed', 'count_query_failed', 'auth_failed', 'indeterminate', 'ok', 'ok'] as const;
  const rounds = [];
  for (let i = 0; i < 40; i++) {
    const at = shanghai('2024-05-01', `${String(i % 24).padStart(2, '0')}:${String((i * 7) % 60).padStart(2, '0')}:00`);
    rounds.push(
      round(at, [
        { id: 'ocr', name: '文字识别', verdict: verdicts[i % verdicts.length], calls: [call('a', 0.1 + i / 100), call('b', 0.5 + i / 50, verdicts[i % verdicts.length] !== 'call_failed')] },
        { id: 'nlp', verdict: verdicts[(i + 3) % verdicts.length], settle: i % 5 === 0 ? null : i / 10 },
      ]),
    );
  }
  // A round the day before and one the day after are not part of it.
  // Usage between rounds: a late charge and unexplained units; a round cut short by shutdown that
  // finished one service, and one that finished none.
  rounds.push(round(shanghai('2024-05-01', '12:30:00'), [{ id: 'ocr', name: '文字识别', unexplained: { units: 1, kind: 'late_charge', lag: { min: 3, max: 40 } } }, { id: 'nlp', unexplained: { units: 0 } }]));
  rounds.push(round(shanghai('2024-05-01', '12:31:00'), [{ id: 'ocr', name: '文字识别', verdict: 'call_failed', unexplained: { units: 4 } }], undefined, ['nlp']));
  rounds.push(round(shanghai('2024-05-01', '12:32:00'), [], undefined, ['ocr', 'nlp']));
  rounds.push(round(shanghai('2024-04-30', '23:59:00'), [{ id: 'ocr', verdict: 'call_failed' }]));
  rounds.push(round(shanghai('2024-05-02', '00:00:30'), [{ id: 'ocr', verdict: 'call_failed' }]));
  for (const r of rounds) store.save(r);
  const fromRounds = buildDigest(rounds.filter((r) => dayIn('Asia/Shanghai', r.startedAt) === '2024-05-01'), '2024-05-01', 'Asia/Shanghai');
  const fromSql = queryDigest(store, '2024-05-01', 'Asia/Shanghai');
  assert.equal(fromSql.rounds, 42, 'rounds that finished something');
  assert.equal(fromSql.abortedRounds, 2);
  assert.ok(fromSql.mismatches.length > 0 && fromSql.failedRounds > 0);
  assert.deepEqual(fromSql.unexplained.map((u) => [u.serviceId, u.units, u.kind, u.lagSeconds]), [['ocr', 1, 'late_charge', { min: 3, max: 40 }], ['ocr', 4, 'unexplained', null]]);
  assert.equal(fromSql.services.find((s) => s.serviceId === 'ocr')?.unexplainedUnits, 5);
  // The latest round is read back from the file here (the last saved is the next day's).
  assert.deepEqual(fromSql, fromRounds);
});

/**
 * The day's figures counted the plain way from the rounds (what happened), with durations to the
 * millisecond as the history keeps them: the oracle for the rollups.
 */
function figuresOf(rounds: RoundResult[]) {
  const finished = rounds.filter((r) => r.services.length > 0);
  const nearest = (values: number[], p: number) => {
    const sorted = values.map((v) => Math.round(v * 1000)).sort((a, b) => a - b);
    return sorted.length === 0 ? null : sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1] / 1000;
  };
  const ids = [...new Set(finished.flatMap((r) => r.services.map((s) => s.serviceId)))].sort();
  return {
    rounds: finished.length,
    failedRounds: finished.filter((r) => r.services.some((s) => s.verdict !== 'ok' && s.verdict !== 'indeterminate')).length,
    abortedRounds: rounds.filter((r) => r.aborted).length,
    services: ids.map((id) => {
      const v: ServiceResult[] = finished.flatMap((r) => r.services.filter((s) => s.serviceId === id));
      const latency = v.flatMap((s) => s.calls.map((c) => c.durationSeconds));
      const settle = v.map((s) => s.settleSeconds).filter((x): x is number => x !== null);
      return {
        id,
        rounds: v.length,
        ok: v.filter((s) => s.verdict === 'ok').length,
        calls: v.filter((s) => !s.callOk).length,
        counts: v.filter((s) => !s.countQueryOk).length,
        auths: v.filter((s) => s.authOk === false).length,
        mismatches: v.filter((s) => s.meteringOk === false && s.delta !== null).length,
        units: v.reduce((n, s) => n + (s.unexplained && s.unexplained.units > 0 && s.unexplained.kind !== 'none' ? s.unexplained.units : 0), 0),
        latency: latency.length === 0 ? null : [nearest(latency, 50), nearest(latency, 95), nearest(latency, 100)],
        settle: settle.length === 0 ? null : [nearest(settle, 50), nearest(settle, 100)],
      };
    }),
  };
}

function figuresOfDigest(d: ReturnType<typeof buildDigest>) {
  return {
    rounds: d.rounds,
    failedRounds: d.failedRounds,
    abortedRounds: d.abortedRounds,
    services: [...d.services]
      .sort((a, b) => a.serviceId.localeCompare(b.serviceId))
      .map((s) => ({
        id: s.serviceId,
        rounds: s.rounds,
        ok: s.ok,
        calls: s.callFailures,
        counts: s.countQueryFailures,
        auths: s.authFailures,
        mismatches: s.mismatches.length,
        units: s.unexplainedUnits,
        latency: s.latency && [s.latency.p50, s.latency.p95, s.latency.max],
        settle: s.settle && [s.settle.p50, s.settle.max],
      })),
  };
}

test('the figures from the rollups are what happened: saved out of order, replaced, durations to the millisecond, several per hour', (t) => {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  const verdicts = ['ok', 'metering_mismatch', 'call_failed', 'count_query_failed', 'auth_failed', 'indeterminate', 'ok', 'ok', 'ok'] as const;
  const rounds: RoundResult[] = [];
  // Rounds every 7 minutes (eight or nine an hour), durations that are not whole milliseconds.
  for (let i = 0; i < 60; i++) {
    const at = shanghai('2024-05-01', '06:00:00') + i * 7 * 60_000;
    const v = verdicts[i % verdicts.length];
    rounds.push(
      round(at, [
        { id: 'ocr', name: i < 30 ? '旧名' : '文字识别', verdict: v, calls: [call('a', 0.1 + i / 997), call('b', 0.5 + i / 331, v !== 'call_failed')], settle: i % 4 === 0 ? null : i / 7 },
        { id: 'nlp', verdict: verdicts[(i + 4) % verdicts.length], unexplained: i % 11 === 0 ? { units: 2 } : i % 13 === 0 ? { units: 1, kind: 'late_charge', lag: { min: 1, max: 9 } } : { units: 0 } },
      ]),
    );
  }
  rounds.push(round(shanghai('2024-05-01', '09:31:00'), [{ id: 'ocr', verdict: 'call_failed' }], undefined, ['nlp']));
  // Saved newest first, then one round saved again with another outcome (it replaces the first).
  for (const r of [...rounds].reverse()) store.save(r);
  const again = round(rounds[3].startedAt, [{ id: 'ocr', verdict: 'metering_mismatch' }], rounds[3].id);
  store.save(again);
  rounds[3] = again;
  const fromStore = queryDigest(store, '2024-05-01', 'Asia/Shanghai');
  assert.deepEqual(figuresOfDigest(fromStore), figuresOf(rounds));
  assert.deepEqual(fromStore, buildDigest(rounds, '2024-05-01', 'Asia/Shanghai'));
  // The name is the one of its latest round; the hours are the rounds' start hours.
  assert.equal(fromStore.services.find((s) => s.serviceId === 'ocr')?.name, '文字识别');
  const hours = fromStore.services.find((s) => s.serviceId === 'nlp')!.hours.map((h) => Object.values(h).reduce((a, b) => a + (b ?? 0), 0));
  // From 06:00 every 7 minutes; round 3 (06:21) was replaced by one without nlp.
  assert.deepEqual(hours.slice(5, 14), [0, 8, 9, 8, 9, 8, 9, 8, 0]);
});

test('a day that starts at a half hour (Asia/Kolkata): its partial hours are counted from the rounds, the figures are exact', (t) => {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  const kolkata = (time: string) => Date.parse(`2024-05-01T${time}+05:30`);
  // Every 10 minutes from 23:00 the day before to 01:00 the day after (Kolkata time).
  const rounds = Array.from({ length: 157 }, (_, i) =>
    round(kolkata('00:00:00') - 3_600_000 + i * 600_000, [{ id: 'ocr', verdict: i % 5 === 0 ? 'call_failed' : 'ok', calls: [call('a', (i % 9) / 10, i % 5 !== 0)] }, { id: 'nlp', verdict: i % 7 === 0 ? 'metering_mismatch' : 'ok' }]),
  );
  for (const r of rounds) store.save(r);
  const day = rounds.filter((r) => dayIn('Asia/Kolkata', r.startedAt) === '2024-05-01');
  assert.equal(day.length, 144);
  const digest = queryDigest(store, '2024-05-01', 'Asia/Kolkata');
  assert.deepEqual(figuresOfDigest(digest), figuresOf(day));
  assert.deepEqual(digest, buildDigest(day, '2024-05-01', 'Asia/Kolkata'));
  assert.deepEqual(
    store.overview('2024-05-01', 'Asia/Kolkata', 1).map((o) => [o.serviceId, o.roundsToday, o.okToday]),
    [['ocr', 144, day.filter((r) => r.services[0].verdict === 'ok').length], ['nlp', 144, day.filter((r) => r.services[1].verdict === 'ok').length]],
  );
});

test('a file of schema version 2 (every verdict a row) opens, migrates, and gives the same rounds and figures', (t) => {
  const file = path.join(tempDir(t), 'v2.db');
  const rounds: RoundResult[] = [];
  for (let i = 0; i < 30; i++) {
    const at = shanghai('2024-05-01', '08:00:00') + i * 5 * 60_000;
    rounds.push(round(at, [{ id: 'ocr', verdict: i % 6 === 5 ? 'call_failed' : 'ok', settle: i / 4 }, { id: 'nlp', verdict: i >= 27 ? 'metering_mismatch' : 'ok', unexplained: i === 10 ? { units: 3 } : { units: 0 } }]));
  }
  rounds.push(round(shanghai('2024-05-01', '10:31:00'), [{ id: 'nlp', verdict: 'call_failed' }], undefined, ['ocr']));
  // The file as version 2 wrote it: the first two migrations, every verdict a whole row.
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  for (const m of MIGRATIONS.slice(0, 2)) m(db);
  db.pragma('user_version = 2');
  const insertRound = db.prepare(
    'INSERT INTO rounds (id, trigger, started_at, finished_at, duration_seconds, aborted, service_count, failed_count, aborted_services, timed_out) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)',
  );
  const insertVerdict = db.prepare(
    `INSERT INTO verdicts (round_id, position, service_id, name, app_id, verdict, reason, started_at, finished_at, before_value, before_error, after_value, after_error, delta,
       expected_delta, metering_mode, metering_ok, call_ok, auth_ok, count_query_ok, settle_seconds, call_seconds, call_reasons, result, unexplained_units, unexplained)
     VALUES (@roundId, @position, @serviceId, @name, @appId, @verdict, @reason, @startedAt, @finishedAt, @beforeValue, @beforeError, @afterValue, @afterError, @delta,
       @expectedDelta, @meteringMode, @meteringOk, @callOk, @authOk, @countQueryOk, @settleSeconds, @callSeconds, @callReasons, @result, @unexplainedUnits, @unexplained)`,
  );
  for (const r of rounds) {
    insertRound.run(r.id, r.trigger, r.startedAt, r.finishedAt, r.durationSeconds, r.aborted ? 1 : 0, r.services.length, r.services.filter((s) => s.verdict !== 'ok').length, r.abortedServices ? JSON.stringify(r.abortedServices) : null);
    r.services.forEach((s, i) => insertVerdict.run(verdictParams(r.id, i, s)));
  }
  db.close();

  const store = new SqliteStore(file);
  t.after(() => store.close());
  assert.equal(store.schemaVersion, SCHEMA_VERSION);
  assert.ok((store.db.prepare('SELECT count(*) FROM rollup_pending').pluck().get() as number) > 0, 'rollups of the old history are pending');
  // The failure streaks at start, before any rollup is built: ocr's last verdict a failed call, nlp three mismatches and a failed call.
  const memory = new MemoryStore();
  for (const r of rounds) memory.save(r);
  assert.deepEqual(Object.fromEntries(store.failureStreaks(['ocr', 'nlp'])), Object.fromEntries(memory.failureStreaks(['ocr', 'nlp'])));
  assert.deepEqual(Object.fromEntries(store.failureStreaks(['ocr', 'nlp'])), { ocr: 1, nlp: 4 });
  assert.deepEqual(store.byDay('2024-05-01', 'Asia/Shanghai'), rounds.map(storedRound));
  // Reading a day builds its pending rollups first.
  const digest = queryDigest(store, '2024-05-01', 'Asia/Shanghai');
  assert.deepEqual(digest, buildDigest(rounds, '2024-05-01', 'Asia/Shanghai'));
  assert.deepEqual(figuresOfDigest(digest), figuresOf(rounds));
  assert.equal(store.db.prepare('SELECT count(*) FROM rollup_pending').pluck().get(), 0);
  // A new round in the hour of the last old one, then the history reads as one.
  const next = round(shanghai('2024-05-01', '10:33:00'), [{ id: 'ocr' }, { id: 'nlp' }]);
  store.save(next);
  const all = [...rounds, next];
  assert.deepEqual(figuresOfDigest(queryDigest(store, '2024-05-01', 'Asia/Shanghai')), figuresOf(all));
  assert.deepEqual(store.serviceHistory('nlp', 3).map((e) => e.roundId), [next.id, rounds[30].id, rounds[29].id]);
  assert.deepEqual(Object.fromEntries(store.failureStreaks(['ocr', 'nlp'])), { ocr: 0, nlp: 0 });
});

test('old history without rollups is built in small steps, newest first', (t) => {
  const file = path.join(tempDir(t), 'steps.db');
  const first = new SqliteStore(file);
  const rounds = Array.from({ length: 40 }, (_, i) => round(shanghai('2024-05-01', '00:00:00') + i * 15 * 60_000, [{ id: 'ocr', verdict: i % 3 === 0 ? 'call_failed' : 'ok' }]));
  for (const r of rounds) first.save(r);
  // As a migrated file has them: every hour pending, no rollups.
  first.db.exec('DELETE FROM rollups; INSERT OR IGNORE INTO rollup_pending (slot) SELECT started_at / 3600000 FROM rounds');
  first.close();
  const store = new SqliteStore(file);
  t.after(() => store.close());
  const step = store.rollupStep();
  assert.equal(step.done, 1, 'the first step rebuilds one hour');
  assert.equal(store.db.prepare('SELECT max(slot) FROM rollups').pluck().get(), Math.floor(rounds[39].startedAt / 3_600_000), 'the newest');
  assert.equal(step.more, true);
  let steps = 1;
  while (store.rollupStep().more && steps < 100) steps++;
  assert.equal(store.db.prepare('SELECT count(*) FROM rollup_pending').pluck().get(), 0);
  assert.equal(store.db.prepare('SELECT sum(rounds) FROM rollups').pluck().get(), 40);
  assert.deepEqual(figuresOfDigest(queryDigest(store, '2024-05-01', 'Asia/Shanghai')), figuresOf(rounds));
});

test('pruning runs in steps of whole hours; the one cut in two by the retention is rebuilt', (t) => {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  const rounds = Array.from({ length: 300 }, (_, i) =>
    round(shanghai('2024-05-01', '00:00:00') + i * 60_000, [{ id: 'ocr', verdict: i % 7 === 0 ? 'metering_mismatch' : 'ok', calls: [call('a', (i % 50) / 100)] }, { id: 'nlp' }]),
  );
  for (const r of rounds) store.save(r);
  // 02:07: inside the hour that starts at 02:00.
  const before = shanghai('2024-05-01', '02:07:00');
  const first = store.pruneStep(before);
  // The first step takes 64 rounds, rounded down to whole hours: 00:00 to 00:59.
  assert.deepEqual(first, { done: 60, more: true });
  let deleted = first.done;
  for (let i = 0; i < 1000; i++) {
    const s = store.pruneStep(before);
    deleted += s.done;
    if (!s.more) break;
  }
  assert.equal(deleted, 127);
  const left = rounds.filter((r) => r.startedAt >= before);
  assert.equal(store.roundCount(), left.length);
  assert.deepEqual(queryDigest(store, '2024-05-01', 'Asia/Shanghai'), buildDigest(left, '2024-05-01', 'Asia/Shanghai'));
  assert.deepEqual(figuresOfDigest(queryDigest(store, '2024-05-01', 'Asia/Shanghai')), figuresOf(left));
  assert.equal(store.db.prepare('SELECT count(*) FROM rollup_pending').pluck().get(), 0);
  assert.equal(store.db.prepare('SELECT min(slot) FROM rollups').pluck().get(), Math.floor(shanghai('2024-05-01', '02:00:00') / 3_600_000));
});

test('maintenance prunes in steps and lets the event loop run between them', async (t) => {
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  // Ten hours of one-minute rounds, long past the 30-day retention.
  for (let i = 0; i < 600; i++) store.save(round(shanghai('2024-05-01', '00:00:00') + i * 60_000, [{ id: 'ocr' }, { id: 'nlp', verdict: i % 9 === 0 ? 'call_failed' : 'ok' }]));
  const jobs = new DigestJobs({ store, metrics: new PatrolMetrics(new Registry(), 'test'), logger: silentLogger, redactor: new Redactor() });
  const { config } = parseConfig(ocrConfig(), 'test.yml', { vars: { platform_url: 'http://127.0.0.1:9' } });
  // Something else that wants the event loop (a scrape): counted each time it gets a turn.
  let turns = 0;
  let waiting = true;
  const turn = () => {
    turns++;
    if (waiting && turns < 1_000_000) setImmediate(turn);
  };
  setImmediate(turn);
  jobs.start(config);
  await jobs.maintain();
  waiting = false;
  await jobs.stop();
  assert.equal(store.roundCount(), 0);
  assert.equal(store.db.prepare('SELECT count(*) FROM rollups').pluck().get(), 0);
  // The first step deletes one hour (60 rounds); later steps at most twice the one before: at least 4 steps, a turn after each.
  assert.ok(turns >= 3, `the event loop ran ${turns} times during the prune`);
});

function baseline(counterKey: string, value: number, at: number): CounterBaseline {
  return { counterKey, serviceId: 'ocr', value, at, day: '2024-05-01', inFlight: 0, shortfall: 0, lastCallAt: at - 1000 };
}

test('rounds cut short by shutdown, counter baselines and failure streaks survive the file, in both stores', (t) => {
  const file = path.join(tempDir(t), 'patrol.db');
  const at = (time: string) => shanghai('2024-05-01', time);
  const r1 = round(at('08:00:00'), [{ id: 'ocr', verdict: 'call_failed' }, { id: 'nlp' }]);
  const r2 = round(at('08:05:00'), [{ id: 'ocr', verdict: 'metering_mismatch' }, { id: 'nlp', verdict: 'indeterminate' }]);
  const r3 = round(at('08:10:00'), [{ id: 'nlp', verdict: 'call_failed' }], undefined, ['ocr']);
  const r4 = round(at('08:15:00'), [], undefined, ['ocr', 'nlp']);
  r1.services[0].baseline = baseline('k-ocr', 5, at('08:00:01'));
  r3.abortedServices![0].baseline = { ...baseline('k-ocr', 7, at('08:10:01')), inFlight: 1 };
  r3.services[0].baseline = baseline('k-nlp', 3, at('08:10:01'));
  // Saved late but older: it does not replace the newer baseline.
  const old = round(at('07:00:00'), [{ id: 'ocr' }]);
  old.services[0].baseline = baseline('k-ocr', 1, at('07:00:01'));

  const memory = new MemoryStore();
  let store = new SqliteStore(file);
  for (const r of [r1, r2, r3, r4]) {
    store.save(r);
    memory.save(r);
  }
  store.save(old);
  store.close();
  store = new SqliteStore(file);
  t.after(() => store.close());
  assert.equal(SCHEMA_VERSION, 5);

  for (const s of [store, memory] as RoundStore[]) {
    // ocr: two failures, then an abort that changes nothing; nlp: ok, a midnight reset (neither), a failure.
    assert.deepEqual(Object.fromEntries(s.failureStreaks(['ocr', 'nlp', 'new'])), { ocr: 2, nlp: 1, new: 0 });
    assert.deepEqual(s.latest()?.id, r3.id, 'a round that finished nothing is not the latest');
  }
  assert.deepEqual(store.counterBaselines().sort((a, b) => a.counterKey.localeCompare(b.counterKey)), [r3.services[0].baseline, r3.abortedServices![0].baseline]);
  const back = store.byDay('2024-05-01', 'Asia/Shanghai').find((r) => r.id === r3.id)!;
  assert.equal(back.aborted, true);
  assert.deepEqual(back.abortedServices, r3.abortedServices);
  assert.deepEqual(back.services.map((s) => s.serviceId), ['nlp']);
  const data = queryDigest(store, '2024-05-01', 'Asia/Shanghai');
  assert.equal(data.rounds, 4, 'the round that finished nothing is not a round run');
  assert.equal(data.abortedRounds, 2);
  assert.deepEqual(data.services.map((s) => [s.serviceId, s.rounds, s.ok]), [['nlp', 3, 1], ['ocr', 3, 1]]);
  assert.equal(data.latest?.aborted, 1);
  assert.deepEqual([data.latest?.run, data.latest?.ok, data.latest?.failed], [1, 0, 1]);
});

test('a round that cannot be saved (a read-only history) is logged and counted in patrol_history_write_failures_total; the next one is saved', async (t) => {
  const file = path.join(tempDir(t), 'patrol.db');
  const sim = await startSimulator({ lagMs: 50 });
  t.after(() => sim.close());
  const store = new SqliteStore(file);
  const metrics = new PatrolMetrics(new Registry(), 'test');
  let log = '';
  const logger = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => ((log += c.toString()), cb()) }));
  const text = ocrConfig();
  const exporter = new Exporter({ configText: () => text, loadOptions: { vars: { platform_url: sim.url } }, logger, metrics, store, redactor: new Redactor() });
  await exporter.start(false);
  t.after(() => exporter.stop());
  const failures = async () => /^patrol_history_write_failures_total (\d+)$/m.exec(await metrics.exposition(false))?.[1];
  assert.equal(await failures(), '0');
  // The file becomes read-only under the running exporter (as a remount or a full disk makes it).
  store.db.pragma('query_only = ON');
  const lost = await exporter.runRound('api')!;
  assert.equal(lost.services[0].verdict, 'ok', 'the round itself was fine');
  assert.equal(await failures(), '1');
  assert.match(log, /"msg":"could not save the round to history"/);
  assert.match(log, /readonly/);
  assert.equal(store.roundCount(), 0);
  store.db.pragma('query_only = OFF');
  const kept = await exporter.runRound('api')!;
  assert.equal(store.latest()?.id, kept.id);
  assert.equal(await failures(), '1');
});
