// Faults at scale: services with timeouts, connection resets, 5xx, a slow drip body, a 50 MB body
// and a WebSocket that never answers (10% each by default, the rest healthy). Every verdict must be
// right, every round must finish within its deadline, and over many rounds the open file
// descriptors, sockets and RSS must stay flat. Exported for the small-scale test.
//   npx tsx bench/faults.ts [--services=1000] [--rounds=100]
import { generateConfig, inspectorFor, openFds, openSockets, startTarget, table, type Target } from './common.js';
import type { RoundResult } from '../src/types.js';

export const FAULT_KINDS = ['timeout', 'reset', 'e5xx', 'drip', 'big', 'ws'] as const;
type Kind = (typeof FAULT_KINDS)[number] | 'ok';

/** 10% of each fault kind, the rest healthy, in a fixed interleaved order. */
export function kindOf(i: number): Kind {
  const slot = i % 10;
  return slot < FAULT_KINDS.length ? FAULT_KINDS[slot] : 'ok';
}

/** What each kind's verdict and reason must be. */
export const EXPECTED: Record<Kind, RegExp> = {
  ok: /^$/,
  timeout: /timeout after/,
  reset: /connection (reset|closed) by peer|socket hang up|other side closed/,
  e5xx: /status: expected 200, got 500/,
  drip: /timeout after/,
  // 50 MB that has not come through by the call's timeout (a loaded target) is a timeout instead.
  big: /body larger than the limit of \d+ bytes|timeout after/,
  ws: /timeout|no answer|did not answer|after 0 answer frames/,
};

export function faultConfig(services: number, callTimeout: string, concurrency = 64): string {
  const text = generateConfig({ services, callsPerService: 1, concurrency, callTimeout, settleTimeout: '5s', pollInterval: '100ms', quietPeriod: '300ms', idOf: (i) => `${kindOf(i)}-${i}`, roundTimeout: '60s' });
  // WebSocket services: the same shape with a websocket call instead of HTTP.
  return text.replace(/(  - id: ws-\d+\n(?:    .*\n)*?    calls:)\n      - name: call0\n        http: .*\n        expect: .*/g, (_m, head: string) =>
    `${head}\n      - name: call0\n        websocket: { url: "{{vars.target}}/ws/{{service_id}}", send: [{ json: { hello: 1 } }] }`);
}

export interface FaultRun {
  /** Wall time of each round (the results themselves are not kept: 100 rounds of 1,000 would be
   *  the bench's own memory, not the exporter's). */
  durations: number[];
  aborted: number;
  wrong: string[];
  first: { fds: number; sockets: number; rssMb: number; heapMb: number };
  last: { fds: number; sockets: number; rssMb: number; heapMb: number };
  maxRoundSeconds: number;
}

/** `settleMs`: after the last round, wait up to this long for descriptors to fall back to the first
 *  sample before taking the last one: sockets still closing (a reset being torn down, an idle
 *  keep-alive socket at its timeout) are not a leak, and a leaked socket never closes by itself. */
export async function runFaults(target: Target, services: number, rounds: number, callTimeout: string, concurrency = 64, settleMs = 0): Promise<FaultRun> {
  const inspector = inspectorFor(faultConfig(services, callTimeout, concurrency), target.url);
  const durations: number[] = [];
  let aborted = 0;
  const wrong: string[] = [];
  // With --expose-gc, collect first: the live heap tells a leak from a heap that has not shrunk.
  const gc = (globalThis as { gc?: () => void }).gc;
  const sample = () => {
    gc?.();
    return { fds: openFds(), sockets: openSockets(), rssMb: process.memoryUsage.rss() / 1024 / 1024, heapMb: gc ? process.memoryUsage().heapUsed / 1024 / 1024 : NaN };
  };
  let first = sample();
  try {
    for (let r = 0; r < rounds; r++) {
      const round: RoundResult = await inspector.runRound({ trigger: 'cli' });
      durations.push(round.durationSeconds);
      // A round that hit its deadline (timedOut) or was stopped (aborted): neither should happen here.
      if (round.aborted || round.timedOut) aborted++;
      for (const s of round.services) {
        const kind = s.serviceId.split('-')[0] as Kind;
        const verdictOk = kind === 'ok' ? s.verdict === 'ok' : s.verdict === 'call_failed';
        if (!verdictOk || !EXPECTED[kind].test(s.reason)) wrong.push(`round ${r} ${s.serviceId}: ${s.verdict}: ${s.reason}`);
      }
      // The first rounds warm the connection pools; measure from after them.
      if (r === Math.min(1, rounds - 1)) first = sample();
    }
    const until = Date.now() + settleMs;
    while (Date.now() < until && openFds() > first.fds) await new Promise((r) => setTimeout(r, 100));
    return { durations, aborted, wrong, first, last: sample(), maxRoundSeconds: Math.max(...durations) };
  } finally {
    await inspector.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
  const services = Number(arg('services', '1000'));
  const rounds = Number(arg('rounds', '100'));
  const target = await startTarget({ LAG_MS: '0' });
  try {
    // 250 ms: slow targets hold a slot until their timeout, so this bounds the round (about 2 s at
    // 1,000 services and 64 slots). More slots overload the single-process target instead.
    const run = await runFaults(target, services, rounds, '250ms', 64);
    const durations = [...run.durations].sort((a, b) => a - b);
    table(`Faults at scale: ${services} services (10% each of ${FAULT_KINDS.join(', ')}), ${rounds} rounds, call timeout 250 ms, concurrency 64, round deadline 60 s`, ['measure', 'after round 2', `after round ${rounds}`], [
      ['open file descriptors', run.first.fds, run.last.fds],
      ['open sockets', run.first.sockets, run.last.sockets],
      ['RSS MB', Math.round(run.first.rssMb), Math.round(run.last.rssMb)],
      ['live heap MB (after a full GC)', Number.isNaN(run.first.heapMb) ? 'run with --expose-gc' : Math.round(run.first.heapMb), Number.isNaN(run.last.heapMb) ? '-' : Math.round(run.last.heapMb)],
    ]);
    table('Rounds', ['verdicts wrong', 'round s p50', 'round s max', 'deadline s', 'aborted rounds'], [
      [run.wrong.length, durations[Math.floor(durations.length / 2)], run.maxRoundSeconds, 60, run.aborted],
    ]);
    for (const w of run.wrong.slice(0, 10)) process.stdout.write(`wrong: ${w}\n`);
  } finally {
    await target.stop();
  }
}
