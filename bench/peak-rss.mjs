// Peak RSS of one round as `patrol serve` runs it: the compiled build (dist/, as bin/patrol.js runs
// it; no TypeScript loader in either thread), the config parsed in this thread, the round in the
// worker thread. Plain JavaScript so that nothing but the exporter's code is in the process.
//   npm run build && npx tsx bench/throughput.ts --print-config=fresh:5000 > /tmp/c.yml
//   node --expose-gc bench/peak-rss.mjs --config=/tmp/c.yml --target=http://127.0.0.1:PORT
// Prints one JSON line: the peak while loading the config, the RSS once V8 has given the load's
// garbage back, the peak during the round, the round's figures. The round thread's heap limits are
// serve's (WORKER_RESOURCE_LIMITS in src/worker/host.ts); `--worker-old-mb=N` sets another maximum
// for its old generation (0: V8's default) to compare.
import { readFileSync } from 'node:fs';
import pino from 'pino';

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const { parseConfig } = await import('../dist/config/load.js');
const { WORKER_RESOURCE_LIMITS, WorkerHost } = await import('../dist/worker/host.js');
const mb = (bytes) => Math.round(bytes / 1024 / 1024);
const startRss = process.memoryUsage.rss();
const loaded = parseConfig(readFileSync(arg('config'), 'utf8'), 'bench', { env: {}, vars: { target: arg('target') } });
const workerOldMb = arg('worker-old-mb') === undefined ? WORKER_RESOURCE_LIMITS.maxOldGenerationSizeMb : Number(arg('worker-old-mb'));
const host = new WorkerHost(pino({ level: 'silent' }), { ...WORKER_RESOURCE_LIMITS, maxOldGenerationSizeMb: workerOldMb || undefined });
host.configure(loaded);
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
let peak = before;
const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
const cpu = process.cpuUsage();
const round = await host.runRound({ trigger: 'cli' });
clearInterval(timer);
const used = process.cpuUsage(cpu);
peak = Math.max(peak, process.memoryUsage.rss());
await host.close();
process.stdout.write(`${JSON.stringify({
  workerOldMb,
  services: round.services.length,
  ok: round.services.filter((s) => s.verdict === 'ok').length,
  roundSeconds: round.durationSeconds,
  cpuMs: Math.round((used.user + used.system) / 1000),
  startRssMb: mb(startRss),
  loadPeakRssMb: mb(loadPeak),
  rssBeforeRoundMb: mb(before),
  roundPeakRssMb: mb(peak),
  processPeakRssMb: mb(process.resourceUsage().maxRSS * 1024),
})}\n`);
