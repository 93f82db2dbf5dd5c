// Inspection throughput: rounds of 100, 1,000 and 5,000 services (2 HTTP calls each, metering lag 0)
// at one concurrency, keep-alive and a fresh connection per call; side by side with Debian's
// prometheus-blackbox-exporter probing the same target at the same concurrency, and the physical
// limit: `wrk` (a C load generator, Debian package wrk) sending the inspection's POST straight to the
// target at the same concurrency and connection mode. Each round runs in a child process of its own,
// so its peak RSS is its own (not the high-water mark of the rows before it).
//   npx tsx bench/throughput.ts [--concurrency=64] [--sizes=100,1000,5000] [--blackbox-seconds=5] [--wrk-seconds=5] [--in-worker=yes|no]
// --in-worker=yes (default): the round runs in the worker thread, as `serve` runs it; no: in the bench's thread.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { findBinary } from '../test/helpers/tools.js';
import { parseConfig } from '../src/config/load.js';
import type { RoundRunner } from '../src/engine/runner.js';
import { WorkerHost } from '../src/worker/host.js';
import { cpuMs, generateConfig, inspectorFor, SERVE_NODE_FLAG, silent, startTarget, table, withPeakRss } from './common.js';

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const concurrency = Number(arg('concurrency', '64'));
const sizes = arg('sizes', '100,1000,5000').split(',').map(Number);
const blackboxSeconds = Number(arg('blackbox-seconds', '5'));
const wrkSeconds = Number(arg('wrk-seconds', '5'));
const inWorker = arg('in-worker', 'yes') === 'yes';

/**
 * wrk's requests/s for the inspection's call (POST /v1/<id> with a small JSON body) on the target,
 * `concurrency` connections on 2 threads; `Connection: close` makes each request a fresh connection.
 */
export async function wrkRate(targetUrl: string, keepAlive: boolean, seconds: number): Promise<{ rate: number; errors: string } | string> {
  const bin = findBinary(['wrk']);
  if (!bin) return 'wrk not installed (apt-get install wrk)';
  const dir = mkdtempSync(path.join(tmpdir(), 'wrk-'));
  const script = path.join(dir, 'post.lua');
  writeFileSync(script, 'wrk.method = "POST"\nwrk.body = \'{"n":0}\'\nwrk.headers["Content-Type"] = "application/json"\n');
  const args = ['-t2', `-c${concurrency}`, `-d${seconds}s`, '-s', script, ...(keepAlive ? [] : ['-H', 'Connection: close']), `${targetUrl}/v1/svc-wrk`];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await once(child, 'exit');
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!rate) return `wrk printed no rate: ${out.slice(0, 200)}`;
  return { rate: Number(rate[1]), errors: /Socket errors:.*|Non-2xx.*/.exec(out)?.[0] ?? '' };
}

async function targetRequests(url: string): Promise<number> {
  return ((await (await fetch(`${url}/_stats`)).json()) as { requests: number }).requests;
}

export async function blackboxProbesPerSecond(targetUrl: string, seconds: number): Promise<{ rate: number; ok: number; failed: number } | string> {
  const bin = findBinary(['prometheus-blackbox-exporter', 'blackbox_exporter']);
  if (!bin) return 'prometheus-blackbox-exporter not installed (apt-get install prometheus-blackbox-exporter)';
  const dir = mkdtempSync(path.join(tmpdir(), 'bbe-'));
  writeFileSync(path.join(dir, 'blackbox.yml'), 'modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n');
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(bin, [`--config.file=${path.join(dir, 'blackbox.yml')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  try {
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      try {
        if ((await fetch(`${base}/-/healthy`)).ok) break;
      } catch {
        /* not up yet */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const pool = new Pool(base, { connections: concurrency });
    const probePath = `/probe?module=http_2xx&target=${encodeURIComponent(`${targetUrl}/probe`)}`;
    let ok = 0;
    let failed = 0;
    const until = Date.now() + seconds * 1000;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < until) {
          const res = await pool.request({ path: probePath, method: 'GET' });
          const body = await res.body.text();
          if (/^probe_success 1$/m.test(body)) ok++;
          else failed++;
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    await pool.close();
    return { rate: (ok + failed) / elapsed, ok, failed };
  } finally {
    child.kill('SIGTERM');
  }
}

interface Row {
  ok: number;
  seconds: number;
  calls: number;
  requests: number;
  cpuMs: number;
  peakRssMb: number;
  rssBeforeMb: number;
  loadPeakRssMb: number;
  peakHeapMb: number;
  liveHeapMb: number;
}

/**
 * One round in this process (a child started per row, so each row's peak RSS is its own): the
 * figures, the peak RSS and heap while it ran, and the heap still live once it is over (after a GC).
 */
async function measureRow(targetUrl: string, keepAlive: boolean, services: number): Promise<Row> {
  const text = generateConfig({ services, concurrency, keepAlive });
  // As serve runs it (the default): the round in the worker thread; the RSS and CPU are the process's, both threads.
  let inspector: RoundRunner;
  if (inWorker) {
    const host = new WorkerHost(silent);
    host.configure(parseConfig(text, 'bench', { env: {}, vars: { target: targetUrl } }));
    // Booted before the clock starts (loading the code into the worker is not the round's cost): a round of no service.
    await host.runRound({ trigger: 'cli', only: () => false });
    inspector = host;
  } else {
    inspector = inspectorFor(text, targetUrl);
  }
  // The config's parse leaves garbage in this thread: collected first, so the peak is the round's.
  (globalThis as { gc?: () => void }).gc?.();
  // Loading a config of thousands of services peaks high (its YAML document) and V8 gives those
  // pages back only once idle: the load's peak is its own figure, and the round waits (at most
  // 20 s) until the RSS stops falling, so the round's peak is the round's.
  const loadPeakRssMb = process.resourceUsage().maxRSS / 1024;
  // (The idle-time memory reducer starts a few seconds in: at least 6 s, then until 4 s without a new low.)
  for (let i = 0, low = Infinity, lowAt = 0; i < 40 && (i < 12 || i - lowAt < 8); i++) {
    const now = process.memoryUsage.rss();
    if (now < low * 0.99) [low, lowAt] = [now, i];
    await new Promise((r) => setTimeout(r, 500));
  }
  const rssBeforeMb = process.memoryUsage.rss() / 1024 / 1024;
  const before = await targetRequests(targetUrl);
  const cpu = process.cpuUsage();
  let peakHeap = process.memoryUsage().heapUsed;
  const heapTimer = setInterval(() => (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)), 20);
  const { value: round, peakRssMb } = await withPeakRss(() => inspector.runRound({ trigger: 'cli' }));
  clearInterval(heapTimer);
  const cpuTime = cpuMs(cpu);
  const requests = (await targetRequests(targetUrl)) - before - 1;
  await inspector.close();
  (globalThis as { gc?: () => void }).gc?.();
  // The heap still live is this thread's: with the round in the worker, what the round handed over.
  return {
    ok: round.services.filter((s) => s.verdict === 'ok').length,
    seconds: round.durationSeconds,
    calls: round.services.reduce((n, s) => n + s.calls.length, 0),
    requests,
    cpuMs: cpuTime,
    peakRssMb,
    rssBeforeMb,
    loadPeakRssMb,
    peakHeapMb: peakHeap / 1024 / 1024,
    liveHeapMb: process.memoryUsage().heapUsed / 1024 / 1024,
  };
}

async function rowInChild(targetUrl: string, keepAlive: boolean, services: number): Promise<Row> {
  const child = spawn(process.execPath, ['--expose-gc', SERVE_NODE_FLAG, '--import', 'tsx', 'bench/throughput.ts', `--row=${keepAlive ? 'keep-alive' : 'fresh'}:${services}`, `--target=${targetUrl}`, `--concurrency=${concurrency}`, `--in-worker=${inWorker ? 'yes' : 'no'}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`row ${services} exited with ${code}`);
  return JSON.parse(out) as Row;
}

async function main(): Promise<void> {
  const target = await startTarget({ LAG_MS: '0' });
  const rows: (string | number)[][] = [];
  const best: Record<string, number> = {};
  try {
    for (const keepAlive of [true, false]) {
      for (const services of sizes) {
        const r = await rowInChild(target.url, keepAlive, services);
        const rate = r.requests / r.seconds;
        const mode = keepAlive ? 'keep-alive' : 'fresh connection';
        best[mode] = Math.max(best[mode] ?? 0, rate);
        rows.push([mode, services, `${r.ok}/${services}`, r.seconds, r.calls, r.requests, Math.round(rate), (r.cpuMs * 1000) / r.calls, Math.round(r.peakRssMb), Math.round(r.peakHeapMb), Math.round(r.liveHeapMb)]);
      }
    }
    table(`Inspection throughput (concurrency ${concurrency}, lag 0, round ${inWorker ? 'in the worker thread, as serve runs it' : 'in the main thread'}; each row a process of its own)`, ['connections', 'services', 'ok', 'round s', 'calls', 'requests', 'requests/s', 'CPU µs/call', 'peak RSS MB', 'peak heap MB', 'live heap after MB'], rows);
    const bb = await blackboxProbesPerSecond(target.url, blackboxSeconds);
    if (typeof bb === 'string') {
      process.stdout.write(`\nblackbox_exporter: SKIPPED: ${bb}\n`);
    } else {
      table(`Side by side: blackbox_exporter, ${blackboxSeconds} s at concurrency ${concurrency} (fresh connection per probe)`, ['tool', 'probes or requests/s', 'ours / blackbox'], [
        ['blackbox_exporter', Math.round(bb.rate), '1.00'],
        ['patrol keep-alive (best size)', Math.round(best['keep-alive']), (best['keep-alive'] / bb.rate).toFixed(2)],
        ['patrol fresh connection (best size)', Math.round(best['fresh connection']), (best['fresh connection'] / bb.rate).toFixed(2)],
      ]);
      if (bb.failed > 0) process.stdout.write(`blackbox probes failed: ${bb.failed}\n`);
    }
    const limit: (string | number)[][] = [];
    for (const keepAlive of [true, false]) {
      const mode = keepAlive ? 'keep-alive' : 'fresh connection';
      const w = await wrkRate(target.url, keepAlive, wrkSeconds);
      if (typeof w === 'string') {
        process.stdout.write(`\nwrk: SKIPPED: ${w}\n`);
        break;
      }
      limit.push([mode, Math.round(w.rate), Math.round(best[mode]), (best[mode] / w.rate).toFixed(2)]);
      if (w.errors) process.stdout.write(`wrk ${mode}: ${w.errors}\n`);
    }
    if (limit.length) table(`The physical limit: wrk, ${wrkSeconds} s at concurrency ${concurrency}, POST straight to the target`, ['connections', 'wrk requests/s', 'patrol requests/s (best size)', 'patrol / wrk'], limit);
  } finally {
    await target.stop();
  }
}

const row = arg('row', '');
const printConfig = arg('print-config', '');
if (printConfig) {
  // The config of a row, for bench/peak-rss.mjs (the compiled build, without this loader).
  const [mode, services] = printConfig.split(':');
  process.stdout.write(generateConfig({ services: Number(services), concurrency, keepAlive: mode === 'keep-alive' }));
} else if (row) {
  const [mode, services] = row.split(':');
  process.stdout.write(`${JSON.stringify(await measureRow(arg('target', ''), mode === 'keep-alive', Number(services)))}\n`);
} else {
  await main();
}
