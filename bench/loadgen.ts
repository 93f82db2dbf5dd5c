// A load generator in its own process: N connections requesting one URL for S seconds.
// Prints one JSON line: requests, errors, bytes (as transferred), requests/s and latency percentiles (ms),
// and every latency (for callers that merge several runs).
//   npx tsx bench/loadgen.ts URL CONNECTIONS SECONDS
//   npx tsx bench/loadgen.ts --serve CONNECTIONS    then one "URL SECONDS" line per run on stdin
// (--serve: one process for many short runs, so starting it is not part of what is measured).
import { createInterface } from 'node:readline';
import { Pool } from 'undici';

const pools = new Map<string, Pool>();

async function run(url: string, connections: number, seconds: number) {
  const u = new URL(url);
  let pool = pools.get(u.origin);
  if (!pool) pools.set(u.origin, (pool = new Pool(u.origin, { connections, pipelining: 1 })));
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
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  return { requests: latencies.length, errors, bytes, rps: latencies.length / elapsed, p50: pct(50), p99: pct(99), max: latencies.at(-1) ?? NaN, latencies, seconds: elapsed };
}

if (process.argv[2] === '--serve') {
  const connections = Number(process.argv[3] ?? '50');
  for await (const line of createInterface({ input: process.stdin })) {
    const [url, seconds] = line.trim().split(/\s+/);
    if (!url) continue;
    process.stdout.write(`${JSON.stringify(await run(url, connections, Number(seconds)))}\n`);
  }
} else {
  const [url, connectionsArg = '50', secondsArg = '10'] = process.argv.slice(2);
  process.stdout.write(`${JSON.stringify(await run(url, Number(connectionsArg), Number(secondsArg)))}\n`);
}
await Promise.all([...pools.values()].map((p) => p.close()));
