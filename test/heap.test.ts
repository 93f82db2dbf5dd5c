// The heap's growth limit (src/heap.ts): set for the whole process, so the round worker's heap
// stays near what is alive in it instead of growing to several times that before collecting; kept
// when node was started with its own `--heap-growing-percent`. The serve log line reports it
// (test/cli.test.ts). The round worker's young generation is smaller than V8's default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { Worker } from 'node:worker_threads';
import { HEAP_GROWING_PERCENT, limitHeapGrowth } from '../src/heap.js';
import { WORKER_RESOURCE_LIMITS, WorkerHost } from '../src/worker/host.js';
import { silentLogger } from './helpers/harness.js';

// A child process that limits the heap's growth as `serve` does, then starts a worker thread that
// holds ~40 MB alive and churns short-lived objects that live long enough to reach the old
// generation (as a round's requests and answers do); prints the percent and the worker's peak heap.
const CHURN = `
import { Worker } from 'node:worker_threads';
import { limitHeapGrowth } from './src/heap.ts';
const percent = limitHeapGrowth();
const worker = new Worker(\`
  const { parentPort } = await import('node:worker_threads');
  const live = Array.from({ length: 200000 }, (_, i) => ({ i, s: 'live-' + i, a: [i, i + 1] }));
  const ring = new Array(400000);
  let max = 0;
  for (let k = 0; k < 3000000; k++) {
    ring[k % ring.length] = { k, s: 'tmp-' + k, a: [k, k, k] };
    if (k % 10000 === 0) max = Math.max(max, process.memoryUsage().heapTotal);
  }
  parentPort.postMessage({ peakMb: Math.round(max / 1048576), live: live.length });
\`, { eval: true });
worker.once('message', (m) => { console.log(JSON.stringify({ percent, ...m })); process.exit(0); });
`;

function churn(nodeFlags: string[]): { percent: number; peakMb: number } {
  const out = execFileSync(process.execPath, [...nodeFlags, '--import', 'tsx', '--input-type=module', '-e', CHURN], { encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as { percent: number; peakMb: number };
}

test('the limit reaches the worker thread: its heap peaks well below V8 default growth on the same work', () => {
  const limited = churn([]);
  // --heap-growing-percent=0 is V8's default (a factor it chooses); limitHeapGrowth keeps a given flag.
  const unlimited = churn(['--heap-growing-percent=0']);
  assert.equal(limited.percent, HEAP_GROWING_PERCENT);
  assert.equal(unlimited.percent, 0);
  // Measured here: ~170 MB limited against ~440 MB (a memory figure, not a timing one).
  assert.ok(limited.peakMb < unlimited.peakMb * 0.7, `limited ${limited.peakMb} MB, default ${unlimited.peakMb} MB`);
});

test('a percent given on the node command line stays (dashes or underscores)', () => {
  assert.equal(limitHeapGrowth(['--heap-growing-percent=35']), 35);
  assert.equal(limitHeapGrowth(['--heap_growing_percent=50']), 50);
});

test("the round worker runs with the smaller young generation", async () => {
  const host = new WorkerHost(silentLogger);
  try {
    // The thread itself (private to the host): what V8 was given for it, as the worker reports it.
    const worker = (host as unknown as { ensure(): Worker }).ensure();
    await new Promise((resolve) => worker.once('online', resolve));
    assert.equal(worker.resourceLimits?.maxYoungGenerationSizeMb, WORKER_RESOURCE_LIMITS.maxYoungGenerationSizeMb);
    assert.ok(WORKER_RESOURCE_LIMITS.maxYoungGenerationSizeMb < 48, "below V8's default of 48 MB");
  } finally {
    await host.close();
  }
});
