// Script calls and script auth checks: run an external command (argv, never a shell string), so the
// probe scripts a team already has keep working. Success is the exit code plus optional assertions
// on stdout (JSON or regex, the same language as HTTP). Output is bounded and redacted.
//
// Nothing a script starts may outlive the call. The process runs in its own process group, and on
// Linux every process it starts carries a marker in its environment (PATROL_SCRIPT_RUN): at its
// timeout, when the round is aborted, and when it exits, the group and every marked process (also
// those that left the group with setsid, or were orphaned by a double fork), together with any
// descendant still attached to them, get TERM then KILL. A process that drops its environment
// (env -i) and has been orphaned is out of reach: docs/clients.md states the limit.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { answerFields, CALL_MAX, doc, duration, refusalFields, stringMap } from '../config/parts.js';
import { checkJson, describeFailures, evaluate, notJson, parseJson } from '../expect.js';
import { excerpt, type Redact } from '../redact.js';
import { render, type TemplateContext } from '../template.js';
import type { AuthCheckResult, CallResult, FailedExpectation } from '../types.js';
import { finishCall, readAnswer, startResult } from './finish.js';
import { defineKind, type Add, type KindCall, type KindCheck, type ProbeContext, type Steps } from './types.js';

export const scriptRequest = z
  .strictObject({
    command: z.array(z.string().min(1)).min(1).meta(doc('The program and its arguments (argv, each a template), never a shell string.', ['./scripts/ocr.sh', '{{app_id}}'])),
    cwd: z.string().optional().meta(doc("The working folder; a relative path starts at the config file's folder, which is also the default.", 'scripts')),
    env: stringMap.prefault({}).meta(doc('Extra environment variables (templates), besides the PATROL_* values (docs/clients.md).', { API_KEY: '{{params.api_key}}' })),
    timeout: duration({ min: '1ms', max: CALL_MAX }).optional().meta(doc('Kill the process group after this long (default: global.call_timeout).', '30s')),
    max_output_bytes: z.number().int().min(1024).max(16_777_216).default(65_536).meta(doc('Per stream (stdout, stderr); the rest is read and dropped.')),
  })
  .meta({ id: 'ScriptRequest', ...doc('A program run as the call; its stdout is the answer.') });
export type ScriptRequest = z.infer<typeof scriptRequest>;

/** Process exit codes a script may end with: `0` or `[0, 3]`. */
export const exitCodeList = z
  .union([z.number().int().min(0).max(255), z.array(z.number().int().min(0).max(255)).min(1)])
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .meta({ id: 'ExitCodeList', ...doc('Process exit codes: one (0) or a list ([0, 3]).', 0, [0, 3]) });

const { status: _noStatus, ...stdoutFields } = answerFields;
const scriptExpectation = z
  .strictObject({
    exit_code: exitCodeList.optional().meta(doc('The exit codes that count as success (default 0).', 0)),
    ...stdoutFields,
  })
  .meta({ id: 'ScriptExpectation', ...doc("What makes a script call a success: its exit code, and conditions on its stdout (json, body_regex, body_not_regex).") });
const scriptRejection = z
  .strictObject({
    exit_code: exitCodeList.optional().meta(doc('The process ended with one of these codes.', 3)),
    json: refusalFields.json,
    body_regex: refusalFields.body_regex,
  })
  .meta({ id: 'ScriptRejection', ...doc('What counts as a script refusing the bad credential: its exit code, and conditions on its stdout. Every condition given must hold; give at least one.') });
export type ScriptCall = KindCall<'script', ScriptRequest, z.output<typeof scriptExpectation>>;
export type ScriptCheck = KindCheck<'script', ScriptRequest, z.output<typeof scriptRejection>>;

const EXCERPT = 2000;
/** Between TERM and KILL: time for a script to clean up. */
const KILL_GRACE_MS = 1000;
/** After the process is gone, how long its pipes may stay open (a stray child holding them). */
const PIPE_WAIT_MS = 1000;
/** Scans for stray processes after a KILL: a process that forks while being killed is caught by the next. */
const KILL_PASSES = 4;
/** The environment variable that marks every process a script run started. */
export const RUN_MARKER = 'PATROL_SCRIPT_RUN';
/** Only these of the exporter's own environment reach a script: it holds other services' secrets. */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'SYSTEMROOT'];

export interface ScriptRun {
  /** null when the process was killed by a signal or never started. */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  /** Which stream was cut at max_output_bytes: its end may hold the beginning of a secret. */
  cut: { stdout: boolean; stderr: boolean };
  durationMs: number;
  timedOut: boolean;
  /** Could not start, or aborted. */
  error?: string;
  pid?: number;
}

/** `PATROL_PARAM_API_KEY` from `api_key`. */
export function envName(prefix: string, name: string): string {
  return `${prefix}${name.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
}

/** The environment a script sees: a few basics, the service's values, then the call's own `env`. */
export function scriptEnv(spec: ScriptRequest, vars: TemplateContext, callName: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of INHERITED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  const str = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  env.PATROL_SERVICE_ID = str(vars.service_id);
  env.PATROL_SERVICE_NAME = str(vars.name);
  env.PATROL_APP_ID = str(vars.app_id);
  env.PATROL_BUSINESS_ID = str(vars.business_id);
  env.PATROL_CALL = callName;
  for (const [group, prefix] of [['params', 'PATROL_PARAM_'], ['vars', 'PATROL_VAR_'], ['extracted', 'PATROL_EXTRACTED_']] as const) {
    const values = vars[group];
    if (values && typeof values === 'object') for (const [k, v] of Object.entries(values)) env[envName(prefix, k)] = str(v);
  }
  for (const [k, v] of Object.entries(spec.env)) env[k] = render(v, vars);
  return env;
}

/** Signal a process or a whole process group (negative id); one already gone is fine. */
function signalQuietly(id: number, signal: NodeJS.Signals): void {
  try {
    process.kill(id, signal);
  } catch {
    // ESRCH: nothing left to kill; EPERM: not ours.
  }
}

/**
 * The processes of one script run still alive, besides its own group: those whose environment
 * carries the run's marker, and every descendant of those or of the script (found through the parent
 * ids in /proc/<pid>/stat, so a child that cleared its environment goes with its parent). Empty where
 * there is no /proc (the process group is then the only reach).
 */
export function runProcesses(marker: string, root: number | undefined): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  const needle = `${RUN_MARKER}=${marker}`;
  const found = new Set<number>();
  const children = new Map<number, number[]>();
  for (const e of entries) {
    const pid = Number(e);
    if (pid === process.pid) continue;
    try {
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (state === 'Z') continue; // already dead, waiting to be reaped
      const list = children.get(Number(ppid)) ?? [];
      list.push(pid);
      children.set(Number(ppid), list);
      // The environment a process was started with, NUL-separated; unreadable when it is not ours.
      const environ = readFileSync(`/proc/${e}/environ`, 'latin1');
      if (environ.split('\0').includes(needle)) found.add(pid);
    } catch {
      // Gone meanwhile, or another user's.
    }
  }
  const queue = [...found, ...(root !== undefined ? [root] : [])];
  for (let i = 0; i < queue.length; i++) {
    for (const c of children.get(queue[i]) ?? []) {
      if (!found.has(c)) {
        found.add(c);
        queue.push(c);
      }
    }
  }
  if (root !== undefined) found.delete(root);
  return [...found];
}

/**
 * Signal everything of one run: the script's group, and each stray process and its group. Once the
 * script has exited (and been reaped) its pid may belong to someone else: then only marked processes
 * and their descendants are looked for.
 */
function signalRun(marker: string, pid: number, alive: boolean, signal: NodeJS.Signals): number {
  // Looked up before the group is signalled: once the script dies, its children's parent is init.
  const strays = runProcesses(marker, alive ? pid : undefined);
  signalQuietly(-pid, signal);
  for (const p of strays) {
    signalQuietly(-p, signal);
    signalQuietly(p, signal);
  }
  return strays.length;
}

/** KILL everything of one run, scanning again while something was still found. */
function killRun(marker: string, pid: number, alive: boolean): void {
  for (let pass = 0; pass < KILL_PASSES && signalRun(marker, pid, alive, 'SIGKILL') > 0; pass++);
}

/** Run the command; never throws, always ends within the timeout plus the kill grace. */
export function runScript(spec: ScriptRequest, ctx: ProbeContext, callName: string): Promise<ScriptRun> {
  const timeoutMs = spec.timeout ?? ctx.defaults.timeoutMs;
  let env: Record<string, string>;
  let argv: string[];
  // Unique to this run: every process it starts inherits it (see runProcesses).
  const marker = randomBytes(12).toString('hex');
  try {
    env = { ...scriptEnv(spec, ctx.vars, callName), [RUN_MARKER]: marker, ...(ctx.traceparent ? { TRACEPARENT: ctx.traceparent } : {}) };
    argv = spec.command.map((a) => render(a, ctx.vars));
  } catch (err) {
    return Promise.resolve({ exitCode: null, signal: null, stdout: '', stderr: '', truncated: false, cut: { stdout: false, stderr: false }, durationMs: 0, timedOut: false, error: (err as Error).message });
  }
  if (ctx.signal.aborted) {
    return Promise.resolve({ exitCode: null, signal: null, stdout: '', stderr: '', truncated: false, cut: { stdout: false, stderr: false }, durationMs: 0, timedOut: false, error: 'not run: round aborted' });
  }
  const started = performance.now();
  return new Promise<ScriptRun>((resolve) => {
    const run: ScriptRun = { exitCode: null, signal: null, stdout: '', stderr: '', truncated: false, cut: { stdout: false, stderr: false }, durationMs: 0, timedOut: false };
    // detached: the child leads a new process group, so kill(-pid) reaches everything it starts.
    const child = spawn(argv[0], argv.slice(1), { cwd: spec.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    run.pid = child.pid;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const sizes = { out: 0, err: 0 };
    const collect = (which: 'out' | 'err', into: Buffer[]) => (chunk: Buffer) => {
      const room = spec.max_output_bytes - sizes[which];
      const cut = () => {
        run.truncated = true;
        run.cut[which === 'out' ? 'stdout' : 'stderr'] = true;
      };
      // Past the limit the output is still read (a full pipe would block the script) but dropped.
      if (room <= 0) return cut();
      into.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
      if (chunk.length > room) cut();
      sizes[which] += Math.min(chunk.length, room);
    };
    child.stdout.on('data', collect('out', out));
    child.stderr.on('data', collect('err', err));

    const alive = () => child.exitCode === null && child.signalCode === null;
    let settled = false;
    const timers = new Set<NodeJS.Timeout>();
    const later = (ms: number, fn: () => void) => timers.add(setTimeout(fn, ms));
    const done = () => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      ctx.signal.removeEventListener('abort', onAbort);
      child.stdout.destroy();
      child.stderr.destroy();
      run.durationMs = performance.now() - started;
      run.stdout = Buffer.concat(out).toString('utf8');
      run.stderr = Buffer.concat(err).toString('utf8');
      resolve(run);
    };
    const terminate = (why: string, timedOut: boolean) => {
      if (run.error || settled) return;
      run.error = why;
      run.timedOut = timedOut;
      if (child.pid === undefined) return done();
      signalRun(marker, child.pid, alive(), 'SIGTERM');
      later(KILL_GRACE_MS, () => {
        killRun(marker, child.pid!, alive());
        later(PIPE_WAIT_MS, done);
      });
    };
    later(timeoutMs, () => terminate(`timeout after ${timeoutMs}ms: the script and every process it started were killed`, true));
    const onAbort = () => terminate(`aborted: ${ctx.signal.reason instanceof Error ? ctx.signal.reason.message : 'round aborted'}; the script and every process it started were killed`, false);
    ctx.signal.addEventListener('abort', onAbort, { once: true });

    child.on('error', (e: NodeJS.ErrnoException) => {
      // Failed to start (ENOENT, EACCES): there is no process to wait for.
      if (child.pid === undefined) {
        run.error = `cannot run ${argv[0]}: ${e.code ?? e.message}`;
        done();
      }
    });
    child.on('exit', (code, signal) => {
      run.exitCode = code;
      run.signal = signal;
      // Whatever the script left running goes with it; then give the pipes a moment.
      if (child.pid !== undefined) killRun(marker, child.pid, false);
      later(PIPE_WAIT_MS, done);
    });
    child.on('close', done);
  });
}

/** How one stream is redacted for people: a stream cut at its limit may end with a secret's start. */
function redactFor(run: ScriptRun, stream: 'stdout' | 'stderr', ctx: ProbeContext): Redact {
  return run.cut[stream] ? (t) => ctx.redactor.redactCut(t) : (t) => ctx.redactor.redact(t);
}

function outputExcerpt(run: ScriptRun, ctx: ProbeContext): string {
  const status = run.exitCode !== null ? `exit code ${run.exitCode}` : run.signal ? `killed by ${run.signal}` : 'no exit code';
  const parts = [status + (run.truncated ? ' (output truncated)' : '')];
  if (run.stdout) parts.push(`--- stdout ---\n${excerpt(run.stdout, EXCERPT / 2, redactFor(run, 'stdout', ctx))}`);
  if (run.stderr) parts.push(`--- stderr ---\n${excerpt(run.stderr, EXCERPT / 2, redactFor(run, 'stderr', ctx))}`);
  return ctx.redactor.redact(parts.join('\n'));
}

function commandExcerpt(spec: ScriptRequest, ctx: ProbeContext): string {
  const argv = spec.command.map((a) => (/[\s"'\\$]/.test(a) ? JSON.stringify(a) : a)).join(' ');
  return ctx.redactor.redact(`${argv}${spec.cwd ? `\n(in ${spec.cwd})` : ''}`);
}

export const scriptCall = async (call: ScriptCall, ctx: ProbeContext): Promise<CallResult> => {
  const spec = call.script;
  const run = await runScript(spec, ctx, call.name);
  const result = startResult(call.name, 'script', { durationSeconds: run.durationMs / 1000, requestExcerpt: commandExcerpt(spec, ctx) });
  if (run.exitCode !== null) result.status = run.exitCode;
  if (run.pid !== undefined) result.responseExcerpt = outputExcerpt(run, ctx);
  if (run.error) {
    result.reason = ctx.redactor.redact(run.error);
    return result;
  }
  const failures: FailedExpectation[] = [];
  const codes = call.expect.exit_code ?? [0];
  if (run.exitCode === null || !codes.includes(run.exitCode)) {
    // The last line of stderr, redacted whole before it is cut (and its end hidden if stderr was cut).
    const tail = redactFor(run, 'stderr', ctx)(run.stderr).trim().split('\n').slice(-1)[0] ?? '';
    failures.push({
      check: 'exit code',
      expected: codes.join(' or '),
      actual: `${run.exitCode ?? `killed by ${run.signal}`}${tail ? ` (stderr: ${ctx.redactor.excerpt(tail, 160)})` : ''}`,
    });
  }
  failures.push(
    ...evaluate(
      { json: call.expect.json, body_regex: call.expect.body_regex, body_not_regex: call.expect.body_not_regex, max_duration: call.expect.max_duration },
      { body: run.stdout, durationMs: run.durationMs },
      redactFor(run, 'stdout', ctx),
    ),
  );
  const { extracted, message } = readAnswer(run.stdout, call, ' in stdout', failures, redactFor(run, 'stdout', ctx));
  result.extracted = extracted;
  return finishCall(result, failures, call.units, ctx, message);
};

export const scriptAuthCheck = async (check: ScriptCheck, ctx: ProbeContext): Promise<AuthCheckResult> => {
  const run = await runScript(check.script, ctx, check.name);
  const base = { name: check.name, durationSeconds: run.durationMs / 1000, status: run.exitCode ?? undefined, responseExcerpt: run.pid !== undefined ? outputExcerpt(run, ctx) : undefined };
  if (run.error) return { ...base, outcome: 'error', reason: `could not tell: ${ctx.redactor.redact(run.error)}` };
  const rw = check.rejected_when;
  const unmet: FailedExpectation[] = [];
  if (rw.exit_code && (run.exitCode === null || !rw.exit_code.includes(run.exitCode))) {
    unmet.push({ check: 'exit code', expected: rw.exit_code.join(' or '), actual: String(run.exitCode ?? `killed by ${run.signal}`) });
  }
  if (rw.json.length > 0) {
    const doc = parseJson(run.stdout);
    if (!doc.ok) unmet.push({ check: 'json', expected: 'JSON on stdout', actual: notJson(doc.got, run.stdout, redactFor(run, 'stdout', ctx)) });
    else unmet.push(...checkJson(doc.value, rw.json, redactFor(run, 'stdout', ctx)));
  }
  unmet.push(...evaluate({ body_regex: rw.body_regex }, { body: run.stdout, durationMs: run.durationMs }, redactFor(run, 'stdout', ctx)));
  if (unmet.length === 0) return { ...base, outcome: 'rejected', reason: '' };
  return { ...base, outcome: 'accepted', reason: `bad credential accepted: ${ctx.redactor.redact(describeFailures(unmet))}` };
};

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code ?? 'error';

/** The working folder from the config file's folder, and a program named by a path, checked at load. */
function resolveFiles(spec: ScriptRequest, steps: Steps, baseDir: string, add: Add): void {
  const cwd = path.resolve(baseDir, spec.cwd ?? '.');
  spec.cwd = cwd;
  try {
    if (!statSync(cwd).isDirectory()) add([...steps, 'cwd'], `${cwd} is not a folder`);
  } catch (err) {
    add([...steps, 'cwd'], `cannot use ${cwd}: ${errno(err)}`);
  }
  // A program named by a path is checked now; one found on PATH (or made by a template) when it runs.
  const program = spec.command[0];
  if (program.includes('/') && !program.includes('{{')) {
    try {
      accessSync(path.resolve(cwd, program), fsConstants.X_OK);
    } catch (err) {
      add([...steps, 'command', 0], `${program} (from ${cwd}) is not an executable file: ${errno(err)}`);
    }
  }
}

export const script = defineKind('script', {
  request: scriptRequest,
  expect: scriptExpectation,
  rejectedWhen: scriptRejection,
  notForThisKind: {
    expect: { status: 'a script has an exit code (expect.exit_code); json and body_regex apply to its stdout' },
    rejected_when: { status: 'a script has an exit code (rejected_when.exit_code); json and body_regex apply to its stdout' },
  },
  unsigned: 'script calls are not signed: pass the credentials in script.env',
  rejectionLacks: (r) =>
    r.exit_code === undefined && r.json.length === 0 && r.body_regex === undefined ? 'a script auth check needs rejected_when.exit_code, json or body_regex (on stdout)' : null,
  resolveFiles,
  call: scriptCall,
  authCheck: scriptAuthCheck,
});
