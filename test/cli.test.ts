// The README's commands as an operator types them (`npx patrol …`, `npm start`): they run, they
// say what they are, they stop on SIGTERM with nothing left behind, and what they serve passes
// promtool's lint. Plus the logfmt log format, its escaping and its redaction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { crc32, inflateRawSync } from 'node:zlib';
import { createLogger, logfmtLine } from '../src/log.js';
import { Redactor } from '../src/redact.js';
import { startSimulator } from '../src/sim/platform.js';
import { ocrConfig } from './helpers/harness.js';
import { eventually, parseMetrics, sample, tempDb } from './helpers/process.js';
import { requireTool } from './helpers/tools.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

/** Every process below `pid` (from /proc: parent ids), live ones only. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && out.length < 1000) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** A process that still runs (a zombie waiting for its reaper does not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** A GET without any decoding, to see the bytes on the wire. */
async function rawGet(url: string, headers: Record<string, string>): Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(url, { headers }, resolve).on('error', reject));
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return { headers: res.headers, body: Buffer.concat(chunks) };
}

async function portFree(port: number): Promise<boolean> {
  const server = net.createServer();
  try {
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    server.close();
  }
}

interface Launched {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<unknown>;
  /** After a failure: SIGKILL to the command and everything it started (an orphan would keep its port and this test's sockets). */
  kill: () => void;
}

/** Start a command as a person would from the checkout (through npm/npx, so npm's own wrapping is part of the test). */
function launch(command: string, args: string[]): Launched {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  const kill = () => {
    for (const pid of [child.pid!, ...descendants(child.pid!)]) if (running(pid)) process.kill(pid, 'SIGKILL');
  };
  return { child, stderr: () => err, exited: once(child, 'exit'), kill };
}

/** SIGTERM to the command the person started (npx or npm itself); afterwards nothing of its tree runs and the port is free. */
async function stopsOnSigterm(l: Launched, port: number): Promise<void> {
  const tree = descendants(l.child.pid!);
  assert.ok(tree.length >= 1, 'the command runs in child processes');
  l.child.kill('SIGTERM');
  const timer = setTimeout(() => l.child.kill('SIGKILL'), 20_000);
  await l.exited;
  clearTimeout(timer);
  try {
    await eventually(async () => (tree.every((pid) => !running(pid)) ? true : undefined), 60_000, `processes ${tree.join(', ')} gone`);
    await eventually(async () => ((await portFree(port)) ? true : undefined), 60_000, `port ${port} free`);
  } finally {
    for (const pid of tree) if (running(pid)) process.kill(pid, 'SIGKILL');
  }
}

test('`npx patrol --version` prints the package version, the git revision and the Node.js version', () => {
  const r = spawnSync('npx', ['patrol', '--version'], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, r.stderr);
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  assert.match(head, /^[0-9a-f]{40}$/);
  assert.equal(r.stdout, `patrol_exporter, version ${PACKAGE.version} (revision: ${head}) nodejs: ${process.version}\n`);
});

test('`npx patrol check-config` works from the checkout and reports problems with exit 1', () => {
  const ok = spawnSync('npx', ['patrol', 'check-config', '--config.file=examples/demo.yml'], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^examples\/demo\.yml: OK \(1 platform\(s\), 5 service\(s\)\)$/m);
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-cli-'));
  writeFileSync(path.join(dir, 'bad.yml'), 'global:\n  schedule: "not cron"\n');
  const bad = spawnSync('npx', ['patrol', 'check-config', `--config.file=${path.join(dir, 'bad.yml')}`], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  assert.equal(bad.status, 1, bad.stdout + bad.stderr);
  assert.match(bad.stderr, /schedule/);
});

test('a bad --log.format or --log.level is refused with the allowed values', () => {
  const r = spawnSync('npx', ['patrol', 'run-once', '--log.format=xml'], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--log\.format.*'xml' is invalid.*json, logfmt/);
  const l = spawnSync('npx', ['patrol', 'serve', '--log.level=loud'], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  assert.notEqual(l.status, 0);
  assert.match(l.stderr, /--log\.level.*'loud' is invalid.*debug, info, warn, error/);
});

test("the README's serve command logs in logfmt when asked and SIGTERM to it stops the exporter: no process left, port free", async () => {
  const sim = await startSimulator({ lagMs: 100 });
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-cli-'));
  const file = path.join(dir, 'patrol.yml');
  writeFileSync(file, ocrConfig({ platformUrl: sim.url, runOnStart: true }));
  const l = launch('npx', ['patrol', 'serve', `--config.file=${file}`, '--web.listen-address=127.0.0.1:0', `--storage.path=${path.join(dir, 'h.db')}`, '--log.format=logfmt']);
  try {
    const url = await eventually(async () => /msg="patrol_exporter listening" url=(http:\/\/\S+)/.exec(l.stderr())?.[1], 120_000, `listening (log: ${l.stderr()})`);
    // The round runs in the worker thread: its lines are logfmt too.
    await eventually(async () => (/msg="round finished"/.test(l.stderr()) ? true : undefined), 60_000, 'a round');
    const lines = l.stderr().split('\n').filter((x) => x !== '' && !x.startsWith('patrol: compiling'));
    for (const line of lines) assert.match(line, /^ts=\S+ level=(debug|info|warn|error) msg=/, `not logfmt: ${line}`);
    assert.match(l.stderr(), /msg="patrol_exporter listening" url=\S+ config=\S+ version=\S+ revision=[0-9a-f]{40}\n/);
    await stopsOnSigterm(l, Number(new URL(url).port));
  } finally {
    l.kill();
    await sim.close();
  }
});

test('`npm start` runs the demo with process metrics, a lint-clean scrape, and stops on SIGTERM', async (t) => {
  const promtool = requireTool(t, 'promtool');
  if (!promtool) return;
  const l = launch('npm', ['start', '--', '--web.listen-address=127.0.0.1:0', '--sim.listen-address=127.0.0.1:0', '--sim.lag=200ms', `--storage.path=${tempDb()}`]);
  try {
    const url = await eventually(async () => /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"patrol_exporter listening"/.exec(l.stderr())?.[1], 120_000, `listening (log: ${l.stderr()})`);
    const scrape = async () => (await fetch(`${url}/metrics`)).text();
    await eventually(async () => ((sample(parseMetrics(await scrape()), 'patrol_rounds_total') ?? 0) >= 1 ? true : undefined), 60_000, 'a round');
    const text = await scrape();
    const metrics = parseMetrics(text);

    // prom-client's default metrics, on the exporter's one registry, and live at each scrape.
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'process_start_time_seconds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      assert.ok(sample(metrics, name) !== undefined, `${name} is served`);
    }
    const cpu = () => scrape().then((x) => sample(parseMetrics(x), 'process_cpu_seconds_total')!);
    const first = await cpu();
    await eventually(async () => ((await cpu()) > first ? true : undefined), 60_000, 'process_cpu_seconds_total moves between scrapes');

    // Compressed, the body is one gzip member (the cached per-service part and the live registry part
    // in one deflate stream, checked here byte by byte) with the same families as the plain text.
    const gz = await rawGet(`${url}/metrics`, { 'accept-encoding': 'gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    const inflated = inflateRawSync(gz.body.subarray(10, -8));
    assert.equal(gz.body.readUInt32LE(gz.body.length - 8), crc32(inflated));
    assert.equal(gz.body.readUInt32LE(gz.body.length - 4), inflated.length);
    const types = (t: string) => t.split('\n').filter((x) => x.startsWith('# TYPE ')).join('\n');
    assert.equal(types(inflated.toString('utf8')), types(text));

    const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
    assert.equal(sample(metrics, 'patrol_build_info', { version: PACKAGE.version, revision: head, nodejs: process.version }), 1);

    // The lint, on the families that are ours (patrol_) and the process_ ones every exporter has.
    // (prom-client's nodejs_*_total gauges are its own findings and are left out; see README.)
    const lines = text.split('\n');
    let family = '';
    const linted: string[] = [];
    for (const line of lines) {
      const meta = /^# (?:HELP|TYPE) (\S+)/.exec(line);
      if (meta) family = meta[1];
      if (line !== '' && /^(patrol|process)_/.test(family)) linted.push(line);
    }
    assert.ok(linted.some((x) => x.startsWith('process_')) && linted.some((x) => x.startsWith('patrol_')));
    const lint = spawnSync(promtool, ['check', 'metrics'], { input: `${linted.join('\n')}\n`, encoding: 'utf8', timeout: 120_000 });

    await stopsOnSigterm(l, Number(new URL(url).port));
    assert.equal(`${lint.stdout}${lint.stderr}`, '', 'promtool check metrics has no finding');
    assert.equal(lint.status, 0);
  } finally {
    l.kill();
  }
});

test('logfmt: ts, level and msg first, nested fields flattened, values quoted and escaped, one line each, secrets redacted', () => {
  const redactor = new Redactor();
  redactor.add('s3cr3t-Token');
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  const logger = createLogger(redactor, 'debug', sink, 'logfmt');
  logger.info({ service: 'ocr', answer: { message: 'login failed with s3cr3t-Token', code: 401 }, empty: '', n: 3, ok: true }, 'counter read failed');
  logger.warn('a "quoted"\nmulti-line message with s3cr3t-Token and a = sign');
  logger.debug({ list: [1, 2] }, 'plain');
  const lines = out.split('\n').filter((x) => x !== '');
  assert.equal(lines.length, 3, out);
  assert.ok(!out.includes('s3cr3t-Token'), out);
  assert.match(lines[0], /^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=info msg="counter read failed" service=ocr answer\.message="login failed with <redacted>" answer\.code=401 empty="" n=3 ok=true$/);
  assert.match(lines[1], /^ts=\S+ level=warn msg="a \\"quoted\\"\\nmulti-line message with <redacted> and a = sign"$/);
  assert.match(lines[2], /^ts=\S+ level=debug msg=plain list=\[1,2\]$/);
  // A line that is not JSON (never from pino, but the formatter must not throw) stays one field.
  assert.equal(logfmtLine('not json\n'), 'msg="not json"\n');
});
