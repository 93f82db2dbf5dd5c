// Script calls: argv (no shell string), the service's values in the environment, exit code and stdout
// assertions, bounded output, secrets redacted, and a hung script killed at its timeout together with
// everything it started (its process group).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseConfig, ConfigError } from '../src/config/load.js';
import { parseCall, parseCheck } from '../src/config/schema.js';
import { HttpClient } from '../src/http/client.js';
import { scriptAuthCheck, scriptCall } from '../src/probes/script.js';
import type { ProbeContext } from '../src/probes/types.js';
import { Redactor } from '../src/redact.js';
import { assertNoSecrets } from './helpers/secrets.js';

const SECRET = 'sup3r-secret-value-42';
const silent = pino({ level: 'silent' });

function ctx(signal: AbortSignal = new AbortController().signal): ProbeContext {
  return {
    vars: { service_id: 'svc', app_id: 'app-1', business_id: 'b', name: 'Svc', params: { api_secret: SECRET, 'region-x': 'cn' }, vars: { platform_url: 'http://127.0.0.1:1' } },
    signal,
    http: new HttpClient(),
    redactor: new Redactor([SECRET]),
    defaults: { timeoutMs: 5000, maxBodyBytes: 1 << 20 },
    logger: silent,
  };
}

/** A process that is gone, or a zombie waiting for a reaper (it runs no more either). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z');
  } catch {
    return true;
  }
}

async function eventually(cond: () => boolean, ms = 30_000): Promise<boolean> {
  for (let i = 0; i < ms / 20 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  return cond();
}

test('a script gets the service values, not the exporter environment; stdout is judged; secrets are redacted', async () => {
  process.env.PATROL_TEST_SHOULD_NOT_LEAK = 'leak';
  try {
    const call = parseCall('script', {
      name: 'env',
      script: { command: ['node', '-e', 'const e = process.env; console.log(JSON.stringify({ code: 0, app: e.PATROL_APP_ID, region: e.PATROL_PARAM_REGION_X, url: e.PATROL_VAR_PLATFORM_URL, extra: e.EXTRA, leak: e.PATROL_TEST_SHOULD_NOT_LEAK ?? null, secret: e.PATROL_PARAM_API_SECRET }))'], env: { EXTRA: '{{service_id}}-x' } },
      expect: { json: [{ path: 'code', equals: 0 }, { path: 'app', equals: 'app-1' }, { path: 'region', equals: 'cn' }, { path: 'url', equals: 'http://127.0.0.1:1' }, { path: 'extra', equals: 'svc-x' }, { path: 'leak', equals: null }], body_regex: 'secret' },
      extract: { app: 'app' },
    });
    const r = await scriptCall(call, ctx());
    assert.equal(r.ok, true, r.reason);
    assert.equal(r.kind, 'script');
    assert.equal(r.status, 0);
    assert.equal(r.units, 1);
    assert.equal(r.extracted.app, 'app-1');
    // The script printed the secret: the excerpt kept for details does not have it.
    assertNoSecrets(JSON.stringify(r), 'the call result', [SECRET]);
    assert.match(r.responseExcerpt ?? '', /"secret":"<redacted>"/);
  } finally {
    delete process.env.PATROL_TEST_SHOULD_NOT_LEAK;
  }
});

test('a hung script is killed at its timeout with its children, even ones that ignore SIGTERM', async () => {
  // sh ignores TERM and so does the sleep it starts (ignored signals are inherited): only the
  // group-wide KILL after the grace period ends them. The child's pid goes to stdout first.
  const call = parseCall('script', {
    name: 'hang',
    script: { command: ['sh', '-c', `trap "" TERM; sleep 60 & echo "child=$!"; echo "${SECRET}" >&2; wait`], timeout: 0.4 },
  });
  const t0 = Date.now();
  const r = await scriptCall(call, ctx());
  const took = Date.now() - t0;
  assert.equal(r.ok, false);
  assert.match(r.reason, /^timeout after 400ms: the script and every process it started were killed$/);
  // The timeout and the grace period are the feature: 5x the 4 s they take at most on a quiet
  // machine, still far from the minute the script would run.
  assert.ok(took >= 400 && took < 20_000, `took ${took}ms`);
  const child = Number(/child=(\d+)/.exec(r.responseExcerpt ?? '')?.[1]);
  assert.ok(child > 0, `no child pid in ${r.responseExcerpt}`);
  assert.ok(await eventually(() => gone(child)), `child ${child} still running`);
  assertNoSecrets(JSON.stringify(r), 'the call result', [SECRET]);
  assert.match(r.responseExcerpt ?? '', /killed by SIGKILL/);
});

test('processes that left the process group (setsid, a double fork) are killed when the script exits', async () => {
  // One child holds stdout; the other is started by a shell that exits at once (an orphan of init).
  const script = `setsid sleep 1000 & echo "child=$!"; sh -c 'setsid sleep 1000 >/dev/null 2>&1 & echo "orphan=$!"'; echo done`;
  const call = parseCall('script', { name: 'escape', script: { command: ['sh', '-c', script] }, expect: { body_regex: 'done' } });
  const r = await scriptCall(call, ctx());
  assert.equal(r.ok, true, r.reason);
  const child = Number(/child=(\d+)/.exec(r.responseExcerpt ?? '')?.[1]);
  const orphan = Number(/orphan=(\d+)/.exec(r.responseExcerpt ?? '')?.[1]);
  assert.ok(child > 0 && orphan > 0, `no pids in ${r.responseExcerpt}`);
  assert.ok(await eventually(() => gone(child)), `setsid child ${child} still running`);
  assert.ok(await eventually(() => gone(orphan)), `double-forked ${orphan} still running`);
});

test('at the timeout, a setsid child and one that cleared its environment go with the script', async () => {
  // env -i drops the marker; its parent (the script) is alive at the timeout, so it is found as a
  // descendant of the script.
  const script = `setsid sleep 1000 & echo "child=$!"; setsid env -i sleep 1000 & echo "bare=$!"; sleep 60`;
  const call = parseCall('script', { name: 'escape', script: { command: ['sh', '-c', script], timeout: 0.5 } });
  const r = await scriptCall(call, ctx());
  assert.match(r.reason, /^timeout after 500ms/);
  const child = Number(/child=(\d+)/.exec(r.responseExcerpt ?? '')?.[1]);
  const bare = Number(/bare=(\d+)/.exec(r.responseExcerpt ?? '')?.[1]);
  assert.ok(child > 0 && bare > 0, `no pids in ${r.responseExcerpt}`);
  assert.ok(await eventually(() => gone(child)), `setsid child ${child} still running`);
  assert.ok(await eventually(() => gone(bare)), `env -i child ${bare} still running`);
});

test('the round signal kills a running script early', async () => {
  const ac = new AbortController();
  const call = parseCall('script', { name: 'long', script: { command: ['sleep', '30'], timeout: 60 } });
  setTimeout(() => ac.abort(new Error('shutdown')), 100);
  const t0 = Date.now();
  const r = await scriptCall(call, ctx(ac.signal));
  assert.match(r.reason, /^aborted: shutdown; the script and every process it started were killed$/);
  // Killed at once is the feature: 5x the 2.5 s it takes at most on a quiet machine, far from the 30 s sleep.
  assert.ok(Date.now() - t0 < 12_500, `took ${Date.now() - t0} ms`);
});

test('exit codes, stderr in the reason, bounded output, a missing program', async () => {
  const failing = parseCall('script', { name: 'fail', script: { command: ['sh', '-c', 'echo "bad things" >&2; exit 3'] } });
  const f = await scriptCall(failing, ctx());
  assert.equal(f.ok, false);
  assert.equal(f.status, 3);
  assert.equal(f.reason, 'exit code: expected 0, got 3 (stderr: bad things)');
  assert.equal(f.units, 0);

  const allowed = parseCall('script', { name: 'three', script: { command: ['sh', '-c', 'exit 3'] }, expect: { exit_code: [0, 3] } });
  assert.equal((await scriptCall(allowed, ctx())).ok, true);

  // 4 MB on stdout: read through (the script is not blocked on a full pipe) and cut to the limit.
  const loud = parseCall('script', { name: 'loud', script: { command: ['node', '-e', 'process.stdout.write("x".repeat(4 << 20))'], max_output_bytes: 4096 } });
  const l = await scriptCall(loud, ctx());
  assert.equal(l.ok, true, l.reason);
  assert.match(l.responseExcerpt ?? '', /output truncated/);
  assert.ok((l.responseExcerpt ?? '').length < 2500);

  const missing = parseCall('script', { name: 'missing', script: { command: ['/nonexistent/probe'] } });
  const m = await scriptCall(missing, ctx());
  assert.equal(m.ok, false);
  assert.equal(m.reason, 'cannot run /nonexistent/probe: ENOENT');
});

test('script auth checks: rejected when the exit code / stdout say so', async () => {
  const check = parseCheck('script', { name: 'bad_key', script: { command: ['sh', '-c', 'echo \'{"code":11200}\'; exit 1'] }, rejected_when: { exit_code: 1, json: [{ path: 'code', equals: 11200 }] } });
  assert.equal((await scriptAuthCheck(check, ctx())).outcome, 'rejected');
  const accepted = parseCheck('script', { name: 'bad_key', script: { command: ['sh', '-c', 'echo \'{"code":0}\''] }, rejected_when: { exit_code: 1 } });
  const a = await scriptAuthCheck(accepted, ctx());
  assert.equal(a.outcome, 'accepted');
  assert.match(a.reason, /exit code: expected 1, got 0/);
});

test('config: cwd and payload files are resolved against the config folder and checked', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-script-'));
  try {
    writeFileSync(path.join(dir, 'probe.sh'), '#!/bin/sh\necho ok\n');
    chmodSync(path.join(dir, 'probe.sh'), 0o755);
    const base = `
platforms:
  p:
    login: { http: { url: "http://127.0.0.1:1/login" }, extract: { s: data.s } }
    counter: { http: { url: "http://127.0.0.1:1/usage" }, value: data.n }
services:
  - id: s
    calls:
`;
    const ok = parseConfig(`${base}      - { name: run, script: { command: [./probe.sh] } }\n`, 't.yml', { baseDir: dir });
    const run = ok.config.services[0].calls[0];
    assert.equal('script' in run && run.script.cwd, dir);

    const bad = `${base}      - { name: run, script: { command: [./nope.sh], cwd: sub }, sign: { type: bearer, token: t }, expect: { status: 200 } }
      - name: ws
        websocket: { url: "ws://127.0.0.1:1/", send: [{ stream: { file: missing.pcm, middle: { a: "{{chunk}}" } } }] }
        expect: { json: [{ path: code, equals: 0 }] }
    auth_checks:
      - { name: c, script: { command: [./probe.sh] }, rejected_when: { first_frame: [{ path: code, equals: 1 }] } }
`;
    assert.throws(() => parseConfig(bad, 't.yml', { baseDir: dir }), (err: ConfigError) => {
      const got = err.problems.map((p) => `${p.path}: ${p.message}`);
      const want = [
        /^services\[0\]\.calls\[0\]\.sign: script calls are not signed/,
        /^services\[0\]\.calls\[0\]\.expect\.status: not used by script calls/,
        /^services\[0\]\.calls\[1\]\.expect\.json: not used by websocket calls: judge the answer frames with expect\.frames/,
        /^services\[0\]\.auth_checks\[0\]\.rejected_when\.first_frame: not used by script auth checks/,
        /^services\[0\]\.auth_checks\[0\]\.rejected_when: a script auth check needs rejected_when\.exit_code, json or body_regex/,
        /^services\[0\]\.calls\[0\]\.script\.cwd: cannot use .*sub: ENOENT/,
        /^services\[0\]\.calls\[0\]\.script\.command\[0\]: \.\/nope\.sh \(from .*\) is not an executable file: ENOENT/,
        /^services\[0\]\.calls\[1\]\.websocket\.send\[0\]\.stream\.file: cannot read .*missing\.pcm: ENOENT/,
      ];
      for (const w of want) assert.ok(got.some((g) => w.test(g)), `missing ${w} in\n${got.join('\n')}`);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
