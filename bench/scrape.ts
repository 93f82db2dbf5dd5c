// Scrapes while rounds run: /metrics under 50 concurrent scrapers for 10 s (a load generator in its
// own process), with 1,000 and 5,000 services, against serving a static body of the same size from
// the same server (the practical limit). Also how much later the rounds finished under that load,
// and the serving thread's event-loop delay. As `serve` runs: rounds in the worker thread, saved to
// a SQLite history file.
//   npx tsx bench/scrape.ts [--sizes=1000,5000] [--seconds=10] [--connections=50]
// --seconds is the least each load lasts: longer when a round takes longer (2.5 rounds).
import { spawn } from 'node:child_process';
import express from 'express';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { Exporter } from '../src/exporter.js';
import { PatrolMetrics } from '../src/metrics.js';
import { Redactor } from '../src/redact.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { createApp, listen } from '../src/web/server.js';
import { generateConfig, silent, startTarget, table } from './common.js';

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const sizes = arg('sizes', '1000,5000').split(',').map(Number);
const seconds = Number(arg('seconds', '10'));
const connections = Number(arg('connections', '50'));

interface Load { requests: number; errors: number; bytes: number; rps: number; p50: number; p99: number; max: number }

async function loadgen(url: string, seconds: number): Promise<Load> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/loadgen.ts', url, String(connections), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await once(child, 'exit');
  return JSON.parse(out) as Load;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-scrape-'));
  const target = await startTarget({ LAG_MS: '0' });
  const rows: (string | number)[][] = [];
  const lateness: (string | number)[][] = [];
  try {
    for (const services of sizes) {
      const text = generateConfig({ services, concurrency: 64 });
      const metrics = new PatrolMetrics(new Registry(), 'bench');
      // As serve runs it: a history file, rounds in a worker thread, scrapes in this one.
      const store = new SqliteStore(path.join(dir, `history-${services}.db`));
      const exporter = new Exporter({ configText: () => text, loadOptions: { env: {}, vars: { target: target.url } }, logger: silent, metrics, store, redactor: new Redactor(), roundsInWorker: true });
      await exporter.start(false);
      await exporter.runRound('cli');
      // The practical limit: the same bytes, prepared once, from the same express server. Declared
      // ahead of the exporter's routes (its catch-all answers 404 to any other path).
      const plain = Buffer.from(await metrics.exposition(false));
      const gz = gzipSync(plain, { level: 6 });
      const app = express();
      app.get('/static', (req, res) => {
        res.type('text/plain; version=0.0.4; charset=utf-8');
        if (/\bgzip\b/.test(req.get('accept-encoding') ?? '')) res.set('Content-Encoding', 'gzip').send(gz);
        else res.send(plain);
      });
      app.use(createApp({ exporter, metrics, store, logger: silent }));
      const { server, url } = await listen(app, '127.0.0.1:0');

      // Rounds back to back: first alone, then under the scrape load.
      const roundSpans: { start: number; end: number; seconds: number }[] = [];
      let keepRunning = true;
      const rounds = (async () => {
        while (keepRunning) {
          const start = Date.now();
          const r = await exporter.runRound('api');
          roundSpans.push({ start, end: Date.now(), seconds: r!.durationSeconds });
        }
      })();
      // At least two rounds alone first (bounded: 60 s).
      for (let i = 0; i < 600 && roundSpans.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      // Both under the same conditions: rounds running back to back in the serving process.
      const loop = monitorEventLoopDelay({ resolution: 5 });
      loop.enable();
      // Each load lasts long enough for two whole rounds to run under it (a busy machine makes rounds longer).
      const quietSeconds = Math.max(...roundSpans.map((r) => r.seconds));
      const loadSeconds = Math.max(seconds, Math.ceil(2.5 * quietSeconds));
      const loadStart = Date.now();
      const m = await loadgen(`${url}/metrics`, loadSeconds);
      const metricsEnd = Date.now();
      const loopMetrics = { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 };
      loop.reset();
      const s = await loadgen(`${url}/static`, loadSeconds);
      const loadEnd = Date.now();
      loop.disable();
      const loopStatic = { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 };
      keepRunning = false;
      await rounds;
      const quiet = roundSpans.filter((r) => r.end <= loadStart).map((r) => r.seconds);
      // A round counts for a load when most of it ran under that load.
      const under = (from: number, to: number) => roundSpans.filter((r) => Math.min(r.end, to) - Math.max(r.start, from) > (r.end - r.start) / 2).map((r) => r.seconds);
      const loaded = under(loadStart, metricsEnd);
      const loadedStatic = under(metricsEnd, loadEnd);
      server.close();
      server.closeAllConnections();
      await exporter.stop();

      const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
      rows.push([services, '/metrics', Math.round(m.rps), m.p50, m.p99, m.errors, plain.length, Math.round(m.bytes / Math.max(1, m.requests)), (m.rps / s.rps).toFixed(2)]);
      rows.push([services, 'static body', Math.round(s.rps), s.p50, s.p99, s.errors, plain.length, Math.round(s.bytes / Math.max(1, s.requests)), '1.00']);
      const later = (xs: number[]) => `${((avg(xs) / avg(quiet) - 1) * 100).toFixed(0)}%`;
      lateness.push([services, 'none', quiet.length, avg(quiet), '-', '-', '-']);
      lateness.push([services, '/metrics', loaded.length, avg(loaded), later(loaded), loopMetrics.p99, loopMetrics.max]);
      lateness.push([services, 'static body', loadedStatic.length, avg(loadedStatic), later(loadedStatic), loopStatic.p99, loopStatic.max]);
    }
    table(`Scrapes: ${connections} concurrent scrapers while rounds run back to back (each load at least ${seconds} s and 2.5 rounds)`, ['services', 'endpoint', 'requests/s', 'p50 ms', 'p99 ms', 'errors', 'body bytes', 'gzip bytes', 'ratio to static'], rows);
    table('Round wall time without and with the scrape load (event loop delay of the serving thread, monitorEventLoopDelay)', ['services', 'scrapes', 'rounds', 'round s', 'later by', 'event loop delay p99 ms', 'max ms'], lateness);
  } finally {
    await target.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
