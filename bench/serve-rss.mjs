// Peak RSS of `patrol serve` itself: bin/patrol.js started as an operator starts it (its shebang and
// node flag, the compiled build), its history in a temporary file, rounds started one after the
// other with POST /api/rounds, and /metrics scraped once a second as Prometheus scrapes it
// (OpenMetrics, gzip; patrol_rounds_total there says when a round has ended). The figures are the
// kernel's, so every thread, module and allocator arena counts: /proc/PID/status (VmRSS sampled
// every 50 ms for each round's peak, VmHWM for the process's) and /proc/PID/stat (the CPU time of
// all its threads). Linux only.
//   npm run build && npx tsx bench/throughput.ts --print-config=fresh:5000 > /tmp/c.yml
//   node bench/serve-rss.mjs --config=/tmp/c.yml --target=http://127.0.0.1:PORT [--rounds=5]
// Prints one JSON line. `--env=NAME=VALUE` (repeatable) sets the exporter's environment, e.g.
// --env=MALLOC_ARENA_MAX=2.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const env = Object.fromEntries(process.argv.filter((a) => a.startsWith('--env=')).map((a) => a.slice(6).split(/=(.*)/s).slice(0, 2)));
const rounds = Number(arg('rounds') ?? 5);
const mb = (kb) => Math.round(kb / 1024);
const dir = mkdtempSync(path.join(tmpdir(), 'patrol-serve-rss-'));
// The generated config names its target in vars (serve takes no --var): written into a copy.
const config = path.join(dir, 'patrol.yml');
writeFileSync(config, readFileSync(arg('config'), 'utf8').replace(/^vars: .*$/m, `vars: { target: ${JSON.stringify(arg('target'))} }`));
const bin = fileURLToPath(new URL('../bin/patrol.js', import.meta.url));
const child = spawn(bin, ['serve', `--config.file=${config}`, `--storage.path=${path.join(dir, 'history.db')}`, '--web.listen-address=127.0.0.1:0'], {
  env: { ...process.env, ...env },
  stdio: ['ignore', 'ignore', 'pipe'],
});
// The process's CPU time so far (all threads), in seconds: utime + stime.
const cpuSeconds = () => {
  const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
const status = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? NaN);

try {
  // The address it listens on, from its log line; the log is read to the end and dropped.
  const url = await new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start in 120 s:\n${text}`)), 120_000);
    child.stderr.on('data', (chunk) => {
      if (text === null) return;
      text += chunk;
      const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(text);
      if (m) {
        clearTimeout(timer);
        text = null;
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code}):\n${text}`)));
  });
  // One scrape: the rounds completed so far.
  const scrape = async () => {
    const res = await fetch(`${url}/metrics`, { headers: { 'accept-encoding': 'gzip', accept: 'application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2' } });
    return { rounds: Number(/^patrol_rounds_total(?:\{[^}]*\})? (\d+)/m.exec(await res.text())?.[1] ?? NaN) };
  };
  let last = await scrape();
  const loadPeakRssMb = mb(status('VmHWM'));
  // The load's pages given back (V8's idle-time memory reducer starts a few seconds in).
  await new Promise((r) => setTimeout(r, 12_000));
  const rssBeforeRoundMb = mb(status('VmRSS'));
  const peaks = [];
  const started = Date.now();
  const cpuBefore = cpuSeconds();
  for (let i = 0; i < rounds; i++) {
    let peak = status('VmRSS');
    const sampler = setInterval(() => (peak = Math.max(peak, status('VmRSS'))), 50);
    const before = last.rounds;
    const post = await fetch(`${url}/api/rounds`, { method: 'POST' });
    if (post.status !== 202) throw new Error(`POST /api/rounds: ${post.status} ${await post.text()}`);
    // Scraped once a second until the round is counted (bounded: 10 min).
    for (let t = 0; t < 600 && last.rounds === before; t++) {
      await new Promise((r) => setTimeout(r, 1000));
      last = await scrape();
    }
    clearInterval(sampler);
    if (last.rounds === before) throw new Error('a round did not end in 10 minutes');
    peaks.push(mb(Math.max(peak, status('VmRSS'))));
  }
  // Before the last round is fetched in full (~10 MB of JSON: a peak of its own).
  const processPeakRssMb = mb(status('VmHWM'));
  const cpuSecondsPerRound = Math.round(((cpuSeconds() - cpuBefore) / rounds) * 100) / 100;
  const latest = await (await fetch(`${url}/api/rounds/latest`)).json();
  process.stdout.write(`${JSON.stringify({
    env,
    services: latest.services.length,
    ok: latest.services.filter((s) => s.verdict === 'ok').length,
    rounds,
    secondsPerRound: Math.round((Date.now() - started) / rounds / 100) / 10,
    cpuSecondsPerRound,
    loadPeakRssMb,
    rssBeforeRoundMb,
    roundPeaksRssMb: peaks,
    processPeakRssMb,
  })}\n`);
} finally {
  child.kill('SIGTERM');
  await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 30_000))]);
  rmSync(dir, { recursive: true, force: true });
}
