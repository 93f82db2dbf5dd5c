// Peak RSS of one round as `patrol serve` runs it: the compiled build (dist/, as bin/patrol.js runs
// it, with its node flag; no TypeScript loader in either thread), the config parsed in this thread,
// the round in the worker thread. Plain JavaScript so that nothing but the exporter's code is in the process.
//   npm run build && npx tsx bench/throughput.ts --print-config=fresh:5000 > /tmp/c.yml
//   node --expose-gc bench/peak-rss.mjs --config=/tmp/c.yml --target=http://127.0.0.1:PORT
// Prints one JSON line: the peak while loading the config, the RSS once V8 has given the load's
// garbage back, the peak of each round (`--rounds=N`, 3 by default) with what serve does when one
// ends (the worker saves it to a history file, the serving thread records it for /metrics and
// Prometheus scrapes it: OpenMetrics, gzip), the process's peak, the last round's figures. The
// round thread's heap limits are serve's (WORKER_RESOURCE_LIMITS in src/worker/host.ts);
// `--worker-old-mb=N` sets another maximum for its old generation (0: V8's default) to compare.
// It leaves out serve's web server, default metrics and scrapes during a round: bench/serve-rss.mjs
// measures `serve` itself (~15–25 MB higher at 5,000 services).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';

// serve's node flag (bin/patrol.js's shebang: the serving thread's young generation): when node was
// started without a --max-semi-space-size of its own, this script runs again with it (give
// --max-semi-space-size=16, V8's default here, to measure without the cap).
if (!process.execArgv.some((a) => a.startsWith('--max-semi-space-size='))) {
  const flag = /--max-semi-space-size=\d+/.exec(readFileSync(new URL('../bin/patrol.js', import.meta.url), 'utf8').split('\n')[0])[0];
  process.exit(spawnSync(process.execPath, [flag, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' }).status ?? 1);
}

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const { parseConfig } = await import('../dist/config/load.js');
const { WORKER_RESOURCE_LIMITS, WorkerHost } = await import('../dist/worker/host.js');
const { PatrolMetrics } = await import('../dist/metrics.js');
const { Registry } = await import('prom-client');
const mb = (bytes) => Math.round(bytes / 1024 / 1024);
const startRss = process.memoryUsage.rss();
const loaded = parseConfig(readFileSync(arg('config'), 'utf8'), 'bench', { env: {}, vars: { target: arg('target') } });
const workerOldMb = arg('worker-old-mb') === undefined ? WORKER_RESOURCE_LIMITS.maxOldGenerationSizeMb : Number(arg('worker-old-mb'));
const host = new WorkerHost(pino({ level: 'silent' }), { ...WORKER_RESOURCE_LIMITS, maxOldGenerationSizeMb: workerOldMb || undefined });
host.configure(loaded);
// The history file serve keeps, written by the round worker.
const dir = mkdtempSync(path.join(tmpdir(), 'patrol-peak-rss-'));
const history = path.join(dir, 'history.db');
const metrics = new PatrolMetrics(new Registry(), 'bench');
metrics.setServices(loaded.config.services);
// The worker booted and configured before the clock starts: a round of no service.
await host.runRound({ trigger: 'cli', only: () => false });
globalThis.gc?.();
const loadPeak = process.resourceUsage().maxRSS * 1024;
// The idle-time memory reducer gives the load's pages back a few seconds in: at least 6 s, then
// until 4 s without a new low (at most 20 s).
for (let i = 0, low = Infinity, lowAt = 0; i < 40 && (i < 12 || i - lowAt < 8); i++) {
  const now = process.memoryUsage.rss();
  if (now < low * 0.99) [low, lowAt] = [now, i];
  await new Promise((r) => setTimeout(r, 500));
}
const before = process.memoryUsage.rss();
// Rounds back to back as serve runs them: the previous round stays on /metrics (and in the pages)
// while the next one's results arrive, so a later round's peak can pass the first's.
const rounds = Number(arg('rounds') ?? 3);
const peaks = [];
let round;
let body;
const cpu = process.cpuUsage();
for (let i = 0; i < rounds; i++) {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  const done = await host.runAndSave({ trigger: 'cli' }, history);
  if (!done.saved?.ok) throw new Error(`the round was not saved: ${done.saved?.error}`);
  round = done.result;
  metrics.recordRound(round, done.lines);
  body = await metrics.body(true, true);
  clearInterval(timer);
  peaks.push(mb(Math.max(peak, process.memoryUsage.rss())));
}
const used = process.cpuUsage(cpu);
await host.close();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify({
  workerOldMb,
  services: round.services.length,
  ok: round.services.filter((s) => s.verdict === 'ok').length,
  rounds,
  lastRoundSeconds: round.durationSeconds,
  metricsGzipBytes: body.length,
  cpuMsPerRound: Math.round((used.user + used.system) / 1000 / rounds),
  startRssMb: mb(startRss),
  loadPeakRssMb: mb(loadPeak),
  rssBeforeRoundMb: mb(before),
  roundPeaksRssMb: peaks,
  processPeakRssMb: mb(process.resourceUsage().maxRSS * 1024),
})}\n`);
