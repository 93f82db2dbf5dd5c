// Rounds in the worker thread are saved to the history file by the worker (the serving thread only
// serves), the worker writes the services' lines of /metrics, and the per-service text of /metrics
// is rendered from a snapshot of one round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseConfig } from '../src/config/load.js';
import { Exporter } from '../src/exporter.js';
import { RESULT_FAMILIES, type LinesRef } from '../src/exposition.js';
import { PatrolMetrics } from '../src/metrics.js';
import { Redactor } from '../src/redact.js';
import { startSimulator } from '../src/sim/platform.js';
import { MemoryStore } from '../src/store/memory.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { nlpService, ocrConfig } from './helpers/harness.js';
import { round } from './helpers/rounds.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-worker-save-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('with rounds in the worker, the worker writes the round to the history file; this thread keeps it whole for the pages', async (t) => {
  const file = path.join(tempDir(t), 'patrol.db');
  const sim = await startSimulator({ lagMs: 50 });
  t.after(() => sim.close());
  const store = new SqliteStore(file);
  const metrics = new PatrolMetrics(new Registry(), 'test');
  const text = ocrConfig();
  const exporter = new Exporter({ configText: () => text, loadOptions: { vars: { platform_url: sim.url } }, logger: pino({ level: 'silent' }), metrics, store, redactor: new Redactor(), roundsInWorker: true });
  await exporter.start(false);
  t.after(() => exporter.stop());
  // This thread's connection may no longer write: whatever lands in the file was written by the worker.
  store.db.pragma('query_only = ON');
  const r = await exporter.runRound('api')!;
  assert.equal(r.services[0].verdict, 'ok');
  assert.equal(store.roundCount(), 1, 'the round is in the file');
  const latest = store.latest()!;
  assert.equal(latest.id, r.id);
  // An ok verdict's excerpts are not stored; the latest round is kept whole in memory, as after a save here.
  assert.ok(latest.services[0].calls[0].responseExcerpt, 'the latest round keeps its excerpts');
  assert.match(await metrics.exposition(false), /^patrol_history_write_failures_total 0$/m);
  assert.match(await metrics.exposition(false), /^patrol_service_success\{service_id="ocr"\} 1$/m);
});

test('a round the worker cannot save (the file locked past the busy timeout) is logged and counted; the next one is saved', async (t) => {
  const file = path.join(tempDir(t), 'patrol.db');
  const sim = await startSimulator({ lagMs: 50 });
  t.after(() => sim.close());
  const store = new SqliteStore(file);
  const metrics = new PatrolMetrics(new Registry(), 'test');
  let log = '';
  const logger = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => ((log += c.toString()), cb()) }));
  const text = ocrConfig();
  const exporter = new Exporter({ configText: () => text, loadOptions: { vars: { platform_url: sim.url } }, logger, metrics, store, redactor: new Redactor(), roundsInWorker: true });
  await exporter.start(false);
  t.after(() => exporter.stop());
  const failures = async () => /^patrol_history_write_failures_total (\d+)$/m.exec(await metrics.exposition(false))?.[1];
  // Another writer holds the file (as a long `patrol digest` or a stuck process would).
  store.db.prepare('BEGIN IMMEDIATE').run();
  const lost = await exporter.runRound('api')!;
  store.db.prepare('ROLLBACK').run();
  assert.equal(lost.services[0].verdict, 'ok', 'the round itself was fine');
  assert.equal(await failures(), '1');
  assert.match(log, /"msg":"could not save the round to history"/);
  assert.match(log, /locked/);
  assert.equal(store.roundCount(), 0);
  const kept = await exporter.runRound('api')!;
  assert.equal(store.latest()?.id, kept.id);
  assert.equal(await failures(), '1');
});

test('the per-service text is rendered from one round: a round recorded while it is being written shows in the next scrape, never mixed in', async () => {
  const metrics = new PatrolMetrics(new Registry(), 'test');
  // Enough services for the text to be written in several slices.
  const ids = Array.from({ length: 1200 }, (_, i) => `svc${i}`);
  const first = round(Date.parse('2024-05-01T02:00:00Z'), ids.map((id) => ({ id, verdict: 'ok' as const })));
  const second = round(Date.parse('2024-05-01T03:00:00Z'), ids.map((id) => ({ id, verdict: 'call_failed' as const })));
  metrics.recordRound(first);
  const during = metrics.exposition(false);
  metrics.recordRound(second);
  const a = await during;
  const b = await metrics.exposition(false);
  const count = (text: string, value: 0 | 1) => text.match(new RegExp(`^patrol_service_success\\{service_id="svc\\d+"\\} ${value}$`, 'gm'))?.length ?? 0;
  assert.deepEqual([count(a, 1), count(a, 0)], [1200, 0], 'the scrape that started before the second round shows the first only');
  assert.deepEqual([count(b, 1), count(b, 0)], [0, 1200]);
  assert.match(a, /^patrol_calls_total\{service_id="svc0"\} 1$/m);
  assert.match(b, /^patrol_calls_total\{service_id="svc0"\} 2$/m);
});

/** The samples of the families a result makes, in exposition order. */
const resultSamples = (exposition: string) => exposition.split('\n').filter((l) => RESULT_FAMILIES.some((f) => l.startsWith(`${f}{`)));

test('rounds in the worker thread: /metrics joins the lines the worker wrote, the same bytes as lines written in the serving thread', async (t) => {
  const sim = await startSimulator({ lagMs: 20 });
  t.after(() => sim.close());
  const config = ocrConfig({ serviceExtra: nlpService() });
  const metrics = new PatrolMetrics(new Registry(), 'test');
  const given: (ReadonlyMap<string, LinesRef> | undefined)[] = [];
  const record = metrics.recordRound.bind(metrics);
  metrics.recordRound = (r, lines) => {
    given.push(lines);
    record(r, lines);
  };
  const exporter = new Exporter({ configText: () => config, loadOptions: { vars: { platform_url: sim.url } }, logger: pino({ level: 'silent' }), metrics, store: new MemoryStore(), redactor: new Redactor(), roundsInWorker: true });
  await exporter.start(false);
  t.after(() => exporter.stop());
  const rounds = [await exporter.runRound('api')!, await exporter.runRound('api')!];

  assert.equal(given.length, 2);
  for (const [n, lines] of given.entries()) {
    assert.deepEqual([...(lines?.keys() ?? [])].sort(), ['nlp', 'ocr'], `round ${n + 1}: every service's lines came from the worker`);
    assert.ok(lines!.get('ocr')!.lines.bytes.length > 0);
  }
  const inThisThread = new PatrolMetrics(new Registry(), 'test');
  inThisThread.setServices(parseConfig(config, 'config', { vars: { platform_url: sim.url } }).config.services);
  for (const r of rounds) inThisThread.recordRound(r);
  const samples = resultSamples(await metrics.exposition(false));
  assert.ok(samples.includes('patrol_metering_success{service_id="nlp"} 1'), samples.join('\n'));
  assert.deepEqual(samples, resultSamples(await inThisThread.exposition(false)));
  assert.deepEqual(resultSamples(await metrics.exposition(true)), resultSamples(await inThisThread.exposition(true)), 'OpenMetrics too');
});
