// The round thread's heap limits (WORKER_RESOURCE_LIMITS in src/worker/host.ts): a maximum for its
// old generation, which makes V8 grow that heap by a smaller factor between full collections (so it
// stays near what is alive instead of several times that), and which, when reached, stops the thread
// with a log line that says what to do; a smaller young generation. Only that thread: the serving
// thread keeps V8's defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import { WORKER_RESOURCE_LIMITS, WorkerHost } from '../src/worker/host.js';
import { silentLogger } from './helpers/harness.js';

// A thread that holds ~40 MB alive and churns short-lived objects that live long enough to reach
// the old generation (as a round's requests and answers do); it reports its heap's peak.
const CHURN = `
  const { parentPort } = require('node:worker_threads');
  const live = Array.from({ length: 200000 }, (_, i) => ({ i, s: 'live-' + i, a: [i, i + 1] }));
  const ring = new Array(400000);
  let max = 0;
  for (let k = 0; k < 3000000; k++) {
    ring[k % ring.length] = { k, s: 'tmp-' + k, a: [k, k, k] };
    if (k % 10000 === 0) max = Math.max(max, process.memoryUsage().heapTotal);
  }
  parentPort.postMessage({ peakMb: Math.round(max / 1048576), live: live.length });
`;

async function churnPeakMb(resourceLimits?: typeof WORKER_RESOURCE_LIMITS): Promise<number> {
  const worker = new Worker(CHURN, { eval: true, resourceLimits });
  const [m] = (await Promise.race([
    new Promise((resolve, reject) => {
      worker.once('message', (x) => resolve([x]));
      worker.once('error', reject);
    }),
    new Promise((_, reject) => setTimeout(() => reject(new Error('the churn did not finish in 120 s')), 120_000)),
  ])) as [{ peakMb: number }];
  await worker.terminate();
  return m.peakMb;
}

test("the round thread's limits keep its heap near what is alive: the same work peaks well below V8's default", async () => {
  const limited = await churnPeakMb(WORKER_RESOURCE_LIMITS);
  const unlimited = await churnPeakMb();
  // A memory figure, not a timing one. Measured here: 213 MB limited against 340 MB.
  assert.ok(limited < unlimited * 0.75, `limited ${limited} MB, V8's default ${unlimited} MB`);
});

test('the round worker runs with those limits', async () => {
  const host = new WorkerHost(silentLogger);
  try {
    // The thread itself (private to the host): what V8 was given for it, as the worker reports it.
    const worker = (host as unknown as { ensure(): Worker }).ensure();
    await new Promise((resolve) => worker.once('online', resolve));
    assert.equal(worker.resourceLimits?.maxOldGenerationSizeMb, WORKER_RESOURCE_LIMITS.maxOldGenerationSizeMb);
    assert.equal(worker.resourceLimits?.maxYoungGenerationSizeMb, WORKER_RESOURCE_LIMITS.maxYoungGenerationSizeMb);
    assert.ok(WORKER_RESOURCE_LIMITS.maxYoungGenerationSizeMb < 48, "below V8's default of 48 MB");
  } finally {
    await host.close();
  }
});

test('a round thread out of memory: the round fails, and the log says the cap and what to do', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'error' }, { write: (l: string) => void lines.push(l) });
  // So small that the thread cannot even load its code.
  const host = new WorkerHost(logger, { maxOldGenerationSizeMb: 4, maxYoungGenerationSizeMb: 1 });
  try {
    await assert.rejects(host.runRound({ trigger: 'cli' }), /the round worker stopped/);
    const line = lines.find((l) => /round worker failed/.test(l));
    assert.ok(line, lines.join(''));
    assert.match(line, /capped at 4 MB; split the services across exporters with --shard/);
  } finally {
    await host.close();
  }
});
