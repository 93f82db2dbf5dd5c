// The round thread's heap limits (WORKER_RESOURCE_LIMITS in src/worker/host.ts): a maximum for its
// old generation, which makes V8 grow that heap by a smaller factor between full collections (so it
// stays near what is alive instead of several times that), and which, when reached, stops the thread
// with a log line that says what to do; a smaller young generation. And the serving thread's young
// generation: capped by the flag every way of starting the exporter gives node, a flag the round
// thread does not take.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import { WORKER_RESOURCE_LIMITS, WorkerHost } from '../src/worker/host.js';
import { silentLogger, STUB_PLATFORMS } from './helpers/harness.js';
import { eventually, parseMetrics, sample } from './helpers/process.js';

const ROOT = path.resolve(import.meta.dirname, '..');

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

// The flag as bin/patrol.js's shebang gives it; the other ways of starting must say the same.
const SEMI_SPACE_FLAG = /--max-semi-space-size=(\d+)/.exec(readFileSync(path.join(ROOT, 'bin/patrol.js'), 'utf8').split('\n')[0])?.[0];

test('every way of starting the exporter gives the serving thread the same young generation', () => {
  assert.ok(SEMI_SPACE_FLAG, "bin/patrol.js's shebang gives --max-semi-space-size");
  const scripts = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const statefulset = readFileSync(path.join(ROOT, 'deploy/kubernetes/statefulset.yml'), 'utf8');
  const starts: Record<string, string | undefined> = {
    'npm start': scripts.start,
    'npm run patrol': scripts.patrol,
    "the Dockerfile's ENTRYPOINT": /^ENTRYPOINT .*$/m.exec(dockerfile)?.[0],
    'the Kubernetes example': /exec node .*dist\/cli\.js serve/.exec(statefulset)?.[0],
  };
  for (const [where, line] of Object.entries(starts)) assert.ok(line?.includes(SEMI_SPACE_FLAG), `${where}: ${line}`);
});

/** `serve` on a config of 2,000 services (nothing runs: no round at start); the serving thread's new space once it listens. */
async function newSpaceAfterLoad(command: string, args: string[]): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-heap-'));
  const services = Array.from({ length: 2000 }, (_, i) => `
  - id: svc-${i}
    app_id: app-${i}
    business_id: b-${i}
    calls:
      - name: call
        http: { method: POST, url: "http://127.0.0.1:9/v1/svc-${i}", json: { n: ${i} } }
        expect: { status: 200, json: [{ path: code, equals: 0 }] }`).join('');
  writeFileSync(path.join(dir, 'patrol.yml'), `global:\n  run_on_start: false\n  schedule: "0 0 1 1 *"\n${STUB_PLATFORMS}services:${services}\n`);
  const child = spawn(command, [...args, 'serve', `--config.file=${path.join(dir, 'patrol.yml')}`, '--web.listen-address=127.0.0.1:0', `--storage.path=${path.join(dir, 'h.db')}`], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  try {
    const url = await eventually(async () => /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"patrol_exporter listening"/.exec(err)?.[1], 120_000, `listening (log: ${err})`);
    const metrics = parseMetrics(await (await fetch(`${url}/metrics`)).text());
    return sample(metrics, 'nodejs_heap_space_size_total_bytes', { space: 'new' })!;
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

test("serve started through bin/patrol.js keeps the serving thread's young generation at the flag's size; V8's default grows it 4 times as far", async () => {
  const mb = Number(SEMI_SPACE_FLAG!.split('=')[1]);
  // Run as a program, as npx and the npm "bin" link do: the kernel reads the shebang.
  const capped = await newSpaceAfterLoad(path.join(ROOT, 'bin/patrol.js'), []);
  const plain = await newSpaceAfterLoad(process.execPath, ['bin/patrol.js']);
  // A new space is two semi-spaces. Measured here: 8 MB against 32 MB.
  assert.ok(capped <= 2 * mb * 1048576, `capped: ${capped} bytes`);
  assert.ok(plain > 2 * mb * 1048576, `V8's default: ${plain} bytes (the load must grow it, or this test proves nothing)`);
});

test("the serving thread's flag does not reach the round thread: V8 would let it win over the thread's own limits", () => {
  // A process started with a 1 MB semi-space; once the host has started the round thread, a thread
  // started after it with no limits of its own grows its young generation as V8 does by default.
  const script = `
    import v8 from 'node:v8';
    import { Worker } from 'node:worker_threads';
    import { WorkerHost } from './src/worker/host.ts';
    const NEW_SPACE = "const v8 = require('node:v8'); let keep = [], max = 0; for (let i = 0; i < 2e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 2e5) keep = []; if (i % 1e4 === 0) max = Math.max(max, v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size); } require('node:worker_threads').parentPort.postMessage(max);";
    const grown = () => new Promise((resolve, reject) => { const w = new Worker(NEW_SPACE, { eval: true, execArgv: [] }); w.once('message', (m) => { resolve(m); w.terminate(); }); w.once('error', reject); });
    const before = await grown();
    const host = new WorkerHost((await import('pino')).default({ level: 'silent' }));
    host.ensure();
    const after = await grown();
    await host.close();
    console.log(JSON.stringify({ before, after }));
  `;
  const r = spawnSync(process.execPath, ['--max-semi-space-size=1', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const { before, after } = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { before: number; after: number };
  assert.ok(before <= 2 * 1048576, `before the host: ${before} bytes (the flag applies)`);
  assert.ok(after > 4 * 1048576, `after the host started its thread: ${after} bytes`);
});
