// A load generator in its own process: N connections requesting one URL for S seconds.
// Prints one JSON line: requests, errors, bytes (as transferred), requests/s and latency percentiles (ms).
//   npx tsx bench/loadgen.ts URL CONNECTIONS SECONDS
import { Pool } from 'undici';

const [url, connectionsArg = '50', secondsArg = '10'] = process.argv.slice(2);
const connections = Number(connectionsArg);
const seconds = Number(secondsArg);
const u = new URL(url);
const pool = new Pool(u.origin, { connections, pipelining: 1 });
const latencies: number[] = [];
let errors = 0;
let bytes = 0;
const until = performance.now() + seconds * 1000;
const started = performance.now();
await Promise.all(
  Array.from({ length: connections }, async () => {
    while (performance.now() < until) {
      const t = performance.now();
      try {
        // As Prometheus asks: gzip accepted.
        const res = await pool.request({ path: u.pathname + u.search, method: 'GET', headers: { 'accept-encoding': 'gzip' } });
        const body = await res.body.arrayBuffer();
        if (res.statusCode !== 200) errors++;
        bytes += body.byteLength;
        latencies.push(performance.now() - t);
      } catch {
        errors++;
      }
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
await pool.close();
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
process.stdout.write(`${JSON.stringify({ requests: latencies.length, errors, bytes, rps: latencies.length / elapsed, p50: pct(50), p99: pct(99), max: latencies.at(-1) ?? NaN })}\n`);
