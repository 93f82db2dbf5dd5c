// The SLI counts behind the digest's budgets, read from a history file three ways: as rounds are
// saved (hourly rollup columns and per-UTC-day sums), from a file written before those columns
// (the old way: histograms and verdict rows), and while the maintenance steps rebuild that file's
// hours. All three must equal what the rounds in memory and the exporter's counters give, over
// stretches that cross days, cut hours and cover the whole file, and after a prune.
//
//   node --import tsx --test test/sli-rollup.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Registry } from 'prom-client';
import type { ServiceConfig } from '../src/config/schema.js';
import { maintenanceResult, type MaintenanceWindow } from '../src/engine/maintenance.js';
import { PatrolMetrics } from '../src/metrics.js';
import { sliCountsOf, type SliCounts } from '../src/store/sli.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { RoundResult } from '../src/types.js';
import { parseMetrics, sample } from './helpers/process.js';
import { call, round, type ServiceSpec } from './helpers/rounds.js';

const H = 3_600_000;
const DAY = 24 * H;
// A UTC midnight, then four days and a half of rounds every 20 minutes, starting at 07:10.
const T0 = Date.UTC(2024, 4, 1) + 7 * H + 10 * 60_000;
const COUNT = 4.5 * 72;

const window: MaintenanceWindow = { id: 'api-1', source: 'api', services: ['tts'], start: 0, end: 0, reason: 'upgrade' } as unknown as MaintenanceWindow;
const ttsConfig = { id: 'tts', name: 'tts', app_id: 'app0001', metering: { mode: 'exact' } } as unknown as ServiceConfig;

function roundAt(k: number, at: number): RoundResult {
  const ocr: ServiceSpec =
    k % 11 === 3
      ? { id: 'ocr', name: k < 150 ? 'OCR' : '文字识别', verdict: 'call_failed', calls: [call('a', 0.2), call('b', 0.3, false)] }
      : k % 13 === 5
        ? { id: 'ocr', name: k < 150 ? 'OCR' : '文字识别', verdict: 'metering_mismatch', calls: [call('a', 0.2), call('b', 0.3)] }
        : k % 37 === 8
          ? { id: 'ocr', name: k < 150 ? 'OCR' : '文字识别', verdict: 'count_query_failed', calls: [call('a', 0.2), call('b', 0.3)] }
          : k % 71 === 9
            ? { id: 'ocr', name: k < 150 ? 'OCR' : '文字识别', verdict: 'indeterminate', calls: [call('a', 0.2), call('b', 0.3)] }
            : { id: 'ocr', name: k < 150 ? 'OCR' : '文字识别', calls: [call('a', 0.2 + (k % 5) / 100), call('b', 0.3)] };
  // Findings of usage between rounds make ok verdicts whole rows; both calls fail now and then.
  const nlp: ServiceSpec =
    k % 17 === 0
      ? { id: 'nlp', unexplained: { units: 2 } }
      : k % 19 === 4
        ? { id: 'nlp', verdict: 'call_failed', calls: [call('x', 0.1, false), call('y', 0.1, false)] }
        : { id: 'nlp', unexplained: { units: 0 } };
  // tts is cut short by shutdown in some rounds (no verdict) and held by a maintenance window in others.
  const aborted = k % 23 === 6 ? ['tts'] : [];
  const r = round(at, aborted.length > 0 ? [ocr, nlp] : [ocr, nlp, { id: 'tts' }], `r${k}`, aborted);
  if (aborted.length === 0 && k % 29 < 4) r.services[2] = maintenanceResult(ttsConfig, window, at, () => 'upgrade');
  return r;
}

function history(): RoundResult[] {
  return Array.from({ length: COUNT }, (_, k) => roundAt(k, T0 + k * 20 * 60_000));
}

const END = T0 + COUNT * 20 * 60_000;
// Whole UTC days with hours around them, a stretch inside one day cutting hours, the file, a 28-day window.
const STRETCHES: [number, number][] = [
  [T0 + 5 * H + 7 * 60_000, END - 3 * H - 50 * 60_000],
  [Date.UTC(2024, 4, 2), Date.UTC(2024, 4, 4)],
  [Date.UTC(2024, 4, 2) + 13 * H + 30 * 60_000, Date.UTC(2024, 4, 2) + 17 * H + 10 * 60_000],
  [0, END + H],
  [END - 28 * DAY, END - 2 * H],
];

const byId = (xs: SliCounts[]) => [...xs].sort((a, b) => a.serviceId.localeCompare(b.serviceId));

/** The store's counts over every stretch equal the rounds in memory and the exporter's counters. */
async function checkAgainstRounds(store: SqliteStore, rounds: RoundResult[], label: string): Promise<SliCounts[][]> {
  const all: SliCounts[][] = [];
  for (const [start, end] of STRETCHES) {
    const fromSql = byId(store.sliCounts(start, end));
    const fromMemory = byId(sliCountsOf(rounds, start, end));
    assert.ok(fromMemory.length > 0, `${label}: the stretch [${start}, ${end}) has rounds`);
    assert.deepEqual(
      fromSql.map(({ firstAt: _, ...c }) => c),
      fromMemory.map(({ firstAt: _, ...c }) => c),
      `${label}: [${start}, ${end})`,
    );
    assert.deepEqual(fromSql.map((c) => c.firstAt), fromMemory.map((c) => Math.floor(c.firstAt / H) * H), `${label}: where the history starts`);
    const metrics = new PatrolMetrics(new Registry(), 'test');
    for (const r of rounds) if (r.startedAt >= start && r.startedAt < end) metrics.recordRound(r);
    const m = parseMetrics((await metrics.body(false, false)).toString());
    for (const c of fromSql) {
      const id = { service_id: c.serviceId };
      assert.deepEqual(
        [c.calls, c.failedCalls, c.checks, c.mismatches],
        [sample(m, 'patrol_calls_total', id), sample(m, 'patrol_call_failures_total', id), sample(m, 'patrol_metering_checks_total', id), sample(m, 'patrol_metering_mismatches_total', id)],
        `${label}: ${c.serviceId} over [${start}, ${end}) against the counters`,
      );
    }
    all.push(fromSql);
  }
  return all;
}

const legacyRows = (store: SqliteStore) => store.db.prepare('SELECT count(*) FROM rollups WHERE calls IS NULL').pluck().get() as number;

test('SLI counts: as saved, from a file written before the count columns, while and after its hours are rebuilt, and after a prune', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-sli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'history.db');
  const rounds = history();

  // As saved: the counts come from the per-day sums and the hourly rollups.
  let store = new SqliteStore(file);
  for (const r of rounds) store.save(r);
  assert.ok((store.db.prepare('SELECT count(*) FROM sli_days').pluck().get() as number) >= 4 * 3, 'a row per service and UTC day');
  assert.equal(legacyRows(store), 0);
  const saved = await checkAgainstRounds(store, rounds, 'as saved');
  store.close();

  // The same file as the exporter wrote it before the count columns: schema version 4.
  const raw = new Database(file);
  raw.exec(`
    ALTER TABLE rollups DROP COLUMN calls; ALTER TABLE rollups DROP COLUMN failed_calls;
    ALTER TABLE rollups DROP COLUMN checks; ALTER TABLE rollups DROP COLUMN mismatches;
    DROP TABLE sli_days; DROP TABLE rollup_sli_pending;
  `);
  raw.pragma('user_version = 4');
  raw.close();

  // Opened again: the migration adds the columns (null) and lists the hours to rebuild; the old
  // way of counting gives the very same figures.
  store = new SqliteStore(file);
  t.after(() => store.close());
  const hours = store.db.prepare('SELECT count(DISTINCT slot) FROM rollups').pluck().get() as number;
  assert.equal(store.db.prepare('SELECT count(*) FROM rollup_sli_pending').pluck().get(), hours);
  assert.equal(store.db.prepare('SELECT count(*) FROM sli_days').pluck().get(), 0);
  assert.ok(legacyRows(store) > 0);
  assert.deepEqual(await checkAgainstRounds(store, rounds, 'old file'), saved);

  // One maintenance step rebuilds the newest hour: part old, part new, same figures.
  const step = store.rollupStep();
  assert.ok(step.done >= 1 && step.more, `one step leaves work: ${JSON.stringify(step)}`);
  assert.ok(legacyRows(store) > 0);
  assert.deepEqual(await checkAgainstRounds(store, rounds, 'one step'), saved);

  // A round saved into an hour still without the counts rebuilds that hour.
  const late = { ...roundAt(1, T0 + 5 * 60_000), id: 'late' };
  const oldest = Math.floor(T0 / H);
  assert.ok(store.db.prepare('SELECT 1 FROM rollups WHERE slot = ? AND calls IS NULL').get(oldest), 'the oldest hour is still old');
  store.save(late);
  assert.equal(store.db.prepare('SELECT 1 FROM rollups WHERE slot = ? AND calls IS NULL').get(oldest), undefined);
  rounds.push(late);
  await checkAgainstRounds(store, rounds, 'a late round');

  // The maintenance steps (bounded) rebuild the rest: nothing old is left, the figures stay.
  for (let i = 0; i < 10_000 && store.rollupStep().more; i++);
  assert.equal(legacyRows(store), 0);
  assert.equal(store.db.prepare('SELECT count(*) FROM rollup_sli_pending').pluck().get(), 0);
  await checkAgainstRounds(store, rounds, 'rebuilt');

  // Pruning inside a day, to a whole hour and then inside an hour: the day's sums follow the hours left.
  for (const before of [Date.UTC(2024, 4, 2) + 9 * H, Date.UTC(2024, 4, 2) + 14 * H + 30 * 60_000]) {
    for (let i = 0; i < 10_000 && store.pruneStep(before).more; i++);
    await checkAgainstRounds(store, rounds.filter((r) => r.startedAt >= before), `pruned before ${new Date(before).toISOString()}`);
  }
});
