// Running the real `patrol` command as a child process and talking to it over HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer as createNetServer } from 'node:net';

export interface Running {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote to stderr (its JSON log) so far. */
  stderr: () => string;
  stdout: () => string;
  /** Send a signal and wait for the exit code; SIGKILL after `graceMs` (default 15 s), then null. */
  stop: (signal?: NodeJS.Signals, graceMs?: number) => Promise<number | null>;
}

/** Start `patrol ARGS` and wait (at most `ms`) for its "listening" log line. */
export async function startPatrol(args: string[], env: NodeJS.ProcessEnv = {}, ms = 30_000): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    env: { ...process.env, PATROL_LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit');
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000) => {
    if (child.exitCode !== null) return child.exitCode;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const [code] = (await exited) as [number | null];
    clearTimeout(timer);
    return code;
  };
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const m = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"patrol_exporter listening"/.exec(err);
    if (m) return { child, url: m[1], stderr: () => err, stdout: () => out, stop };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop('SIGKILL');
  throw new Error(`patrol ${args.join(' ')} did not start:\n${err}\n${out}`);
}

/** Poll until `fn` returns a value (not undefined), at most `ms`. */
export async function eventually<T>(fn: () => Promise<T | undefined>, ms = 30_000, what = 'condition'): Promise<T> {
  const until = Date.now() + ms;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not met within ${ms} ms${last ? `: ${String(last)}` : ''}`);
}

/** Parse the Prometheus text format into name{labels} -> value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

export function sample(metrics: Map<string, number>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const [key, value] of metrics) {
    const m = /^([^{]+)(?:\{(.*)\})?$/.exec(key)!;
    if (m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return value;
  }
  return undefined;
}

/** Run `patrol ARGS` to the end without blocking this process (an in-process simulator must keep answering). */
export async function runPatrol(args: string[], env: NodeJS.ProcessEnv = {}, ms = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A history file of the test's own, so runs never share one. */
export function tempDb(): string {
  return path.join(mkdtempSync(path.join(tmpdir(), 'patrol-db-')), 'patrol.db');
}

/** A TCP port free on 127.0.0.1 now, for a tool that must be told its port (Prometheus, Alertmanager). */
export async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}
