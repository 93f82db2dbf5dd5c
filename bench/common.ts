// Shared pieces of the benchmarks: a target in its own process, generated configs, measurements.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { once } from 'node:events';
import pino from 'pino';
import { parseConfig } from '../src/config/load.js';
import { Inspector } from '../src/engine/inspector.js';

export const silent = pino({ level: 'silent' });

/** The node flag `patrol` starts with (bin/patrol.js's shebang): the serving thread's young generation. */
export const SERVE_NODE_FLAG = /--max-semi-space-size=\d+/.exec(readFileSync(new URL('../bin/patrol.js', import.meta.url), 'utf8').split('\n')[0])![0];

/**
 * A benchmark of what `serve` does runs with serve's node flag: when node was started without a
 * --max-semi-space-size of its own, this runs the script again with it and exits with its status.
 * (Give `--max-semi-space-size=16`, V8's default here, to measure without the cap.)
 */
export function runAsServeDoes(): void {
  if (process.execArgv.some((a) => a.startsWith('--max-semi-space-size='))) return;
  const r = spawnSync(process.execPath, [SERVE_NODE_FLAG, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

export interface Target {
  url: string;
  child: ChildProcess;
  stop: () => Promise<void>;
}

/** Start bench/target.ts in a child process. */
export async function startTarget(env: Record<string, string> = {}): Promise<Target> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/target.ts'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await Promise.race([
    once(child.stdout!, 'data'),
    new Promise((_, reject) => setTimeout(() => reject(new Error('target did not start')), 20_000)),
  ])) as [Buffer];
  const { port } = JSON.parse(line.toString()) as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

export interface GenOptions {
  services: number;
  callsPerService?: number;
  concurrency: number;
  keepAlive?: boolean;
  callTimeout?: string;
  roundTimeout?: string;
  pollInterval?: string;
  settleTimeout?: string;
  confirmReads?: number;
  /** Service id for index i (fault mixes use prefixes the target understands). */
  idOf?: (i: number) => string;
  /** Calls whose service fails are expected to add nothing: a short quiet period keeps rounds short. */
  quietPeriod?: string;
}

/** A config with N services, each with M HTTP calls, against the bench target. */
export function generateConfig(o: GenOptions): string {
  const idOf = o.idOf ?? ((i: number) => `svc-${i}`);
  const calls = Array.from({ length: o.callsPerService ?? 2 }, (_, c) => `
      - name: call${c}
        http: { method: POST, url: "{{vars.target}}/v1/{{service_id}}", json: { n: ${c} } }
        expect: { status: 200, json: [{ path: code, equals: 0 }] }`).join('');
  const services = Array.from({ length: o.services }, (_, i) => `
  - id: ${idOf(i)}
    app_id: bench
    business_id: ${idOf(i)}
    calls:${calls}`).join('');
  return `
global:
  schedule: "0 0 1 1 *"
  run_on_start: false
  concurrency: ${o.concurrency}
  keep_alive: ${o.keepAlive ?? true}
  call_timeout: ${o.callTimeout ?? '5s'}
  round_timeout: ${o.roundTimeout ?? '10m'}
  settle:
    timeout: ${o.settleTimeout ?? '10s'}
    poll_interval: ${o.pollInterval ?? '100ms'}
    confirm_reads: ${o.confirmReads ?? 0}
${o.quietPeriod ? `    quiet_period: ${o.quietPeriod}` : ''}
vars: { target: "http://127.0.0.1:1" }
platforms:
  bench:
    timezone: UTC
    login:
      http: { method: POST, url: "{{vars.target}}/console/login" }
      extract: { sid: data.sid }
    session: { headers: { Cookie: "sid={{session.sid}}" } }
    counter:
      http: { url: "{{vars.target}}/console/usage", query: { appid: "{{app_id}}", service: "{{business_id}}" } }
      value: data.usedCount
services:${services}
`;
}

export function inspectorFor(text: string, targetUrl: string): Inspector {
  const loaded = parseConfig(text, 'bench', { env: {}, vars: { target: targetUrl } });
  return new Inspector({ config: loaded.config, secrets: [], logger: silent });
}

/** Peak RSS while `fn` runs, sampled every 20 ms. */
export async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peakRssMb: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { value, peakRssMb: peak / 1024 / 1024 };
  } finally {
    clearInterval(timer);
  }
}

export function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

export function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

/** TCP sockets of this process (established or otherwise), from /proc. */
export function openSockets(): number {
  try {
    return readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
      } catch {
        return false;
      }
    }).length;
  } catch {
    return -1;
  }
}

export function table(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(2)) : c)));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  process.stdout.write(`\n### ${title}\n\n${line(header)}\n| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |\n${cells.map(line).join('\n')}\n`);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
