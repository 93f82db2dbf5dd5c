// Scrapes while rounds run: /metrics under 50 concurrent scrapers for 10 s (a load generator in its
// own process), with 1,000 and 5,000 services, against serving a static body of the same size from
// the same thread (the practical limit). Also how much later the rounds finished under that load,
// and the serving thread's event-loop delay, under that load and in the quiet rounds before it
// (scraped once a second, as Prometheus would); and what one scrape costs on its own. As `serve`
// runs: rounds in the worker thread, saved to a SQLite history file, with serve's node flag (the
// script runs itself again with it when node was started without one).
//   npx tsx bench/scrape.ts [--sizes=1000,5000] [--seconds=10] [--connections=50]
// --seconds is the least each endpoint is loaded: longer when a round takes longer (1.5 rounds each,
// so 3 rounds under load in all).
import { spawn } from 'node:child_process';
import express from 'express';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
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
import { generateConfig, runAsServeDoes, silent, startTarget, table } from './common.js';

runAsServeDoes();

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const sizes = arg('sizes', '1000,5000').split(',').map(Number);
const seconds = Number(arg('seconds', '10'));
const connections = Number(arg('connections', '50'));

interface Load { requests: number; errors: number; bytes: number; rps: number; p50: number; p99: number; max: number; latencies: number[]; seconds: number }

/** One load generator process for the whole run; each call is one run of `seconds` on `url`. */
function startLoadgen(): { run: (url: string, seconds: number) => Promise<Load>; stop: () => Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/loadgen.ts', '--serve', String(connections)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    run: async (url, seconds) => {
      child.stdin!.write(`${url} ${seconds}\n`);
      const next = await lines.next();
      if (next.done) throw new Error('the load generator stopped');
      return JSON.parse(next.value) as Load;
    },
    stop: async () => {
      child.stdin!.end();
      await once(child, 'exit');
    },
  };
}

/** Several runs of one endpoint as one: requests/s over their time, percentiles over all their latencies. */
function merge(runs: Load[]): Omit<Load, 'latencies'> {
  const all = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  const pct = (p: number) => all[Math.min(all.length - 1, Math.floor((p / 100) * all.length))] ?? NaN;
  return {
    requests: all.length,
    errors: runs.reduce((n, r) => n + r.errors, 0),
    bytes: runs.reduce((n, r) => n + r.bytes, 0),
    rps: all.length / seconds,
    p50: pct(50),
    p99: pct(99),
    max: all.at(-1) ?? NaN,
    seconds,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-scrape-'));
  const target = await startTarget({ LAG_MS: '0' });
  const rows: (string | number)[][] = [];
  const lateness: (string | number)[][] = [];
  const single: (string | number)[][] = [];
  try {
    for (const services of sizes) {
      const text = generateConfig({ services, concurrency: 64 });
      const metrics = new PatrolMetrics(new Registry(), 'bench');
      // As serve runs it: a history file, rounds in a worker thread, scrapes in this one.
      const store = new SqliteStore(path.join(dir, `history-${services}.db`));
      const exporter = new Exporter({ configText: () => text, loadOptions: { env: {}, vars: { target: target.url } }, logger: silent, metrics, store, redactor: new Redactor(), roundsInWorker: true });
      await exporter.start(false);
      await exporter.runRound('cli');
      // One scrape alone, as Prometheus makes it every 15-60 s: the kept body dropped each time (no
      // change of round), so this is what the serving thread does per scrape. The first of each
      // format comes a second after a round, as it would after the scrapes of the round before.
      await metrics.body(true, true);
      await metrics.body(false, true);
      await exporter.runRound('cli');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      for (const open of [true, false]) {
        const times: number[] = [];
        for (let i = 0; i < 41; i++) {
          metrics.registryChanged();
          const t = performance.now();
          await metrics.body(open, true);
          times.push(performance.now() - t);
        }
        const first = times.shift()!;
        times.sort((a, b) => a - b);
        single.push([services, open ? 'OpenMetrics, gzip (Prometheus)' : 'text, gzip', first, times[20], times[36]]);
      }
      // /metrics as serve answers it: the exporter's app, on a server of its own.
      const { server, url } = await listen(createApp({ exporter, metrics, store, logger: silent }), '127.0.0.1:0');
      // The practical limit: the same bytes, prepared once, from a bare express app in the same
      // thread, on a server of its own (mounted beside the exporter's app, it would add or save a
      // layer of routing for one of the two), without an ETag (express would hash the whole body
      // per request; the exporter's app sends none either).
      const plain = Buffer.from(await metrics.exposition(false));
      const gz = gzipSync(plain, { level: 6 });
      const staticApp = express();
      staticApp.set('etag', false);
      staticApp.get('/static', (req, res) => {
        res.type('text/plain; version=0.0.4; charset=utf-8');
        if (/\bgzip\b/.test(req.get('accept-encoding') ?? '')) res.set('Content-Encoding', 'gzip').send(gz);
        else res.send(plain);
      });
      const { server: staticServer, url: staticUrl } = await listen(staticApp, '127.0.0.1:0');

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
      // At least two rounds alone first (bounded: 60 s), scraped once a second as Prometheus would:
      // the serving thread's delay then is the exporter's own (recording results, rendering,
      // answering), not a queue of 50 scrapers for 2 cores.
      const quietDelay = monitorEventLoopDelay({ resolution: 5 });
      quietDelay.enable();
      let quietScrapes = 0;
      for (let i = 0; i < 600 && roundSpans.length < 2; i++) {
        if (i % 10 === 0) {
          // Prometheus's own Accept header: OpenMetrics first.
          const res = await fetch(`${url}/metrics`, { headers: { 'accept-encoding': 'gzip', accept: 'application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2' } });
          await res.arrayBuffer();
          quietScrapes++;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      quietDelay.disable();
      // Both under the same conditions: rounds running back to back in the serving process, and the
      // two endpoints in alternating windows of WINDOW s, so that a shared machine's load, which
      // drifts, weighs on both alike.
      const WINDOW = 2;
      // A histogram per window (one enabled again would count the pause between as a delay);
      // per endpoint: the largest p99 and max of its windows.
      const delays = { metrics: { p99: 0, max: 0 }, static: { p99: 0, max: 0 } };
      const measured = async <T>(which: keyof typeof delays, fn: () => Promise<T>): Promise<T> => {
        const h = monitorEventLoopDelay({ resolution: 5 });
        h.enable();
        try {
          return await fn();
        } finally {
          h.disable();
          delays[which].p99 = Math.max(delays[which].p99, h.percentile(99) / 1e6);
          delays[which].max = Math.max(delays[which].max, h.max / 1e6);
        }
      };
      const gen = startLoadgen();
      // Warm-up, not counted: each endpoint's connections opened.
      await gen.run(`${staticUrl}/static`, 0.5);
      await gen.run(`${url}/metrics`, 0.5);
      // Each endpoint is loaded long enough for two whole rounds to run under load (a busy machine makes rounds longer).
      const quietSeconds = Math.max(...roundSpans.map((r) => r.seconds));
      const loadSeconds = Math.max(seconds, Math.ceil(1.5 * quietSeconds));
      const metricsRuns: Load[] = [];
      const staticRuns: Load[] = [];
      const loadStart = Date.now();
      for (let w = 0; w < Math.ceil(loadSeconds / WINDOW); w++) {
        metricsRuns.push(await measured('metrics', () => gen.run(`${url}/metrics`, WINDOW)));
        staticRuns.push(await measured('static', () => gen.run(`${staticUrl}/static`, WINDOW)));
      }
      const loadEnd = Date.now();
      await gen.stop();
      // Then quiet rounds again: the machine's load before and after the scrapes, averaged.
      const quietAgain = roundSpans.length;
      for (let i = 0; i < 600 && roundSpans.length < quietAgain + 3; i++) await new Promise((r) => setTimeout(r, 100));
      keepRunning = false;
      await rounds;
      const m = merge(metricsRuns);
      const s = merge(staticRuns);
      const quiet = roundSpans.filter((r) => r.end <= loadStart || r.start >= loadEnd).map((r) => r.seconds);
      // A round counts as scraped when most of it ran under the load.
      const loaded = roundSpans.filter((r) => Math.min(r.end, loadEnd) - Math.max(r.start, loadStart) > (r.end - r.start) / 2).map((r) => r.seconds);
      for (const srv of [server, staticServer]) {
        srv.close();
        srv.closeAllConnections();
      }
      await exporter.stop();

      const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
      rows.push([services, '/metrics', Math.round(m.rps), m.p50, m.p99, m.errors, plain.length, Math.round(m.bytes / Math.max(1, m.requests)), (m.rps / s.rps).toFixed(2), `${(m.p99 / s.p99).toFixed(2)}×`]);
      rows.push([services, 'static body', Math.round(s.rps), s.p50, s.p99, s.errors, plain.length, Math.round(s.bytes / Math.max(1, s.requests)), '1.00', '1.00×']);
      lateness.push([services, quiet.length, avg(quiet), loaded.length, avg(loaded), `${((avg(loaded) / avg(quiet) - 1) * 100).toFixed(0)}%`, delays.metrics.p99, delays.metrics.max, delays.static.p99, delays.static.max, quietDelay.percentile(99) / 1e6, quietDelay.max / 1e6, quietScrapes]);
    }
    table(`Scrapes: ${connections} concurrent scrapers while rounds run back to back (alternating 2 s windows, each endpoint at least ${seconds} s and 1.5 rounds)`, ['services', 'endpoint', 'requests/s', 'p50 ms', 'p99 ms', 'errors', 'body bytes', 'gzip bytes', 'ratio to static', 'p99 / static p99'], rows);
    table('One scrape at a time, after a round (the kept body dropped before each): ms until the body is ready', ['services', 'format', 'first, 1 s after the round', 'median', 'p90'], single);
    table('Round wall time without and with the scrape load; event-loop delay of the serving thread (monitorEventLoopDelay) while each endpoint is loaded', ['services', 'quiet rounds', 'round s', 'scraped rounds', 'round s', 'later by', '/metrics: delay p99 ms (worst window)', 'max ms', 'static: delay p99 ms (worst window)', 'max ms', 'quiet, 1 scrape/s: delay p99 ms', 'max ms', 'scrapes'], lateness);
  } finally {
    await target.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
