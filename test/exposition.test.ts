// The lines of /metrics that a service's result makes, written by the round worker (it has the
// results) and handed to the serving thread in one buffer per round: the buffer's layout, and how
// /metrics joins the pieces (a service cut short keeps its earlier lines, the lines handed over are
// the ones served, many services written in the serving thread, gzip with no result line). No
// network (the mutation run of src/metrics.ts and src/exposition.ts uses this file); a real round
// in the worker thread is in worker-save.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { Registry } from 'prom-client';
import { RESULT_FAMILIES, rangeOf, resultLines, type LinesRef, type ResultLines } from '../src/exposition.js';
import { PatrolMetrics } from '../src/metrics.js';
import type { ServiceResult } from '../src/types.js';
import { call, round, svc } from './helpers/rounds.js';

const T = Date.parse('2024-05-01T02:00:00Z');
const family = (name: string) => RESULT_FAMILIES.indexOf(name as (typeof RESULT_FAMILIES)[number]);
const text = (lines: ResultLines, index: number, f: number) => {
  const [start, end] = rangeOf({ lines, index }, f);
  return Buffer.from(lines.bytes.buffer, lines.bytes.byteOffset + start, end - start).toString('utf8');
};
/** Each service's place in one buffer of lines, as the worker host hands them over. */
const refsOf = (results: ServiceResult[], lines = resultLines(results)) => new Map<string, LinesRef>(results.map((s, index) => [s.serviceId, { lines, index }]));
/** The samples of the families a result makes, in exposition order. */
const resultSamples = (exposition: string) => exposition.split('\n').filter((l) => RESULT_FAMILIES.some((f) => l.startsWith(`${f}{`)));

test("a round's lines: family after family, each result's piece where the one before it ends, in bytes", () => {
  // Not ASCII, and a label value that needs escaping: the ranges count bytes, not characters.
  const wide = svc({ id: 'ocr-服务', calls: [call('a"b', 0.5), call('c', 0.25)] }, T);
  const maintenance: ServiceResult = { ...svc({ id: 'quiet' }, T), verdict: 'maintenance' };
  const plain = svc({ id: 'nlp', verdict: 'count_query_failed' }, T);
  const lines = resultLines([wide, maintenance, plain]);
  assert.equal(lines.ends.length, RESULT_FAMILIES.length * 3);
  assert.equal(lines.ends[lines.ends.length - 1], lines.bytes.length, 'the last piece ends the buffer');
  for (let i = 1; i < lines.ends.length; i++) assert.ok(lines.ends[i] >= lines.ends[i - 1], `piece ${i} starts where piece ${i - 1} ends`);

  assert.equal(text(lines, 0, family('patrol_service_success')), 'patrol_service_success{service_id="ocr-服务"} 1\n');
  assert.equal(text(lines, 0, family('patrol_call_duration_seconds')), 'patrol_call_duration_seconds{service_id="ocr-服务",call="a\\"b"} 0.5\npatrol_call_duration_seconds{service_id="ocr-服务",call="c"} 0.25\n');
  assert.equal(text(lines, 2, family('patrol_service_success')), 'patrol_service_success{service_id="nlp"} 0\n', 'the piece after a multi-byte one is found');
  // The counter read after the calls failed: one usage sample, no delta.
  assert.equal(text(lines, 2, family('patrol_usage_calls')), 'patrol_usage_calls{service_id="nlp",phase="before"} 100\n');
  assert.equal(text(lines, 2, family('patrol_metering_delta')), '');
  // A service in maintenance has no sample at all.
  for (let f = 0; f < RESULT_FAMILIES.length; f++) assert.equal(text(lines, 1, f), '', RESULT_FAMILIES[f]);
  // Every byte belongs to exactly one piece.
  let joined = '';
  for (let f = 0; f < RESULT_FAMILIES.length; f++) for (let i = 0; i < 3; i++) joined += text(lines, i, f);
  assert.equal(joined, Buffer.from(lines.bytes).toString('utf8'));
  // Its own memory, so that it can be transferred (a slice of Buffer's shared pool cannot be).
  assert.equal(lines.bytes.byteOffset, 0);
  assert.equal(lines.bytes.buffer.byteLength, lines.bytes.length);
});

test('a round of many services: every result finds its own lines', () => {
  const results = Array.from({ length: 620 }, (_, i) => svc({ id: i % 7 === 0 ? `ü${i}` : `s${i}`, verdict: i % 3 === 0 ? 'call_failed' : 'ok' }, T));
  const lines = resultLines(results);
  results.forEach((s, i) => {
    assert.equal(text(lines, i, family('patrol_service_success')), `patrol_service_success{service_id="${s.serviceId}"} ${i % 3 === 0 ? 0 : 1}\n`);
    assert.equal(text(lines, i, family('patrol_metering_expected_delta')), `patrol_metering_expected_delta{service_id="${s.serviceId}"} ${s.expectedDelta}\n`);
  });
});

test("a round that cut a service short keeps that service's earlier lines, beside the new round's", async () => {
  const withLines = new PatrolMetrics(new Registry(), 'test');
  const written = new PatrolMetrics(new Registry(), 'test');
  const first = round(T, [{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
  const second = round(T + 60_000, [{ id: 'a', verdict: 'call_failed' }, { id: 'c', verdict: 'metering_mismatch' }], 'second', ['b']);
  withLines.recordRound(first, refsOf(first.services));
  written.recordRound(first);
  withLines.recordRound(second, refsOf(second.services));
  written.recordRound(second);
  const samples = resultSamples(await withLines.exposition(false));
  assert.deepEqual(samples, resultSamples(await written.exposition(false)), 'the same text as lines written by the serving thread');
  assert.ok(samples.includes('patrol_service_success{service_id="a"} 0'));
  assert.ok(samples.includes('patrol_service_success{service_id="b"} 1'), "b's line from the first round");
  assert.ok(samples.includes('patrol_metering_success{service_id="c"} 0'));
});

test('the lines handed over with a round are the ones served (not written again from the results)', async () => {
  const m = new PatrolMetrics(new Registry(), 'test');
  const served = round(T, [{ id: 'a' }]);
  // Lines of another judgement of the same service: what /metrics shows must be what was handed over.
  const handed = resultLines(round(T, [{ id: 'a', verdict: 'call_failed' }]).services);
  m.recordRound(served, new Map([['a', { lines: handed, index: 0 }]]));
  assert.ok(resultSamples(await m.exposition(false)).includes('patrol_service_success{service_id="a"} 0'));
});

test('more services than one slice, written in the serving thread: every line in place, in order', async () => {
  const ids = Array.from({ length: 700 }, (_, i) => `svc${i}`);
  const m = new PatrolMetrics(new Registry(), 'test');
  m.recordRound(round(T, ids.map((id, i) => ({ id, verdict: i % 5 === 0 ? ('call_failed' as const) : ('ok' as const) }))));
  const success = resultSamples(await m.exposition(false)).filter((l) => l.startsWith('patrol_service_success{'));
  assert.deepEqual(success, ids.map((id, i) => `patrol_service_success{service_id="${id}"} ${i % 5 === 0 ? 0 : 1}`));
});

test('every service in a maintenance window (no result line at all): the gzip body is still one valid stream', async () => {
  const m = new PatrolMetrics(new Registry(), 'test');
  const held = round(T, [{ id: 'a' }, { id: 'b' }]);
  held.services = held.services.map((s) => ({ ...s, verdict: 'maintenance' as const }));
  m.recordRound(held, refsOf(held.services));
  const plain = await m.body(false, false);
  assert.deepEqual(resultSamples(plain.toString('utf8')), []);
  assert.equal(gunzipSync(await m.body(false, true)).toString('utf8'), plain.toString('utf8'));
  assert.equal(gunzipSync(await m.body(true, true)).toString('utf8'), (await m.body(true, false)).toString('utf8'));
});
