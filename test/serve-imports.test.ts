// What each thread of `serve` loads. The serving thread only serves: the engine's modules (undici,
// OpenTelemetry, the probes' calls) belong to the round thread, and nodemailer is imported for the
// first digest; each would hold megabytes of the serving thread's memory all day
// (BENCHMARKS.md, "`serve` measured as it runs"). A round thread without a trace endpoint loads
// no OpenTelemetry either.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { STUB_PLATFORMS } from './helpers/harness.js';
import { eventually } from './helpers/process.js';

const ROOT = path.resolve(import.meta.dirname, '..');

/** The packages (node_modules/NAME) and the project's own modules (src/ or dist/ path) in a thread's list. */
function loaded(file: string): Set<string> {
  const names = new Set<string>();
  for (const url of existsSync(file) ? readFileSync(file, 'utf8').split('\n') : []) {
    const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
    const own = /\/(?:src|dist)\/(.+)\.[jt]s$/.exec(url)?.[1];
    if (pkg) names.add(pkg);
    else if (own && !url.includes('/node_modules/')) names.add(own);
  }
  return names;
}

test('serve: the serving thread loads neither the engine, undici, OpenTelemetry nor nodemailer; the round thread loads the engine without OpenTelemetry', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-imports-'));
  // One service whose calls fail at once (nothing listens on port 9): the first round, at start,
  // makes the round thread load what a round needs.
  writeFileSync(path.join(dir, 'patrol.yml'), `global:\n  run_on_start: true\n  schedule: "0 0 1 1 *"\n${STUB_PLATFORMS}services:
  - id: svc
    app_id: app
    business_id: b
    calls:
      - name: call
        http: { method: POST, url: "http://127.0.0.1:9/v1/svc", json: { n: 1 } }
        expect: { status: 200 }
smtp:
  host: 127.0.0.1
  port: 9
  from: patrol@example.test
  to: [ops@example.test]
`);
  const child = spawn(process.execPath, ['--import', path.join(ROOT, 'test/helpers/record-imports.mjs'), '--import', 'tsx', 'src/cli.ts', 'serve', `--config.file=${path.join(dir, 'patrol.yml')}`, '--web.listen-address=127.0.0.1:0', `--storage.path=${path.join(dir, 'h.db')}`], {
    cwd: ROOT,
    env: { ...process.env, RECORD_IMPORTS_DIR: dir },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await eventually(async () => /"msg":"patrol_exporter listening"/.test(err) || undefined, 120_000, `listening (log: ${err})`);
    // The first round has run in the round thread (its failure logged) once undici is in its list.
    const worker = await eventually(
      async () => {
        const names = loaded(path.join(dir, 'worker.txt'));
        return names.has('undici') ? names : undefined;
      },
      60_000,
      `the round thread loading undici (log: ${err})`,
    );
    const main = loaded(path.join(dir, 'main.txt'));
    // The lists are real: each thread's own modules are in them.
    assert.ok(main.has('exporter') && main.has('web/server') && main.has('digest/mailer') && main.has('zod'), [...main].join(' '));
    assert.ok(worker.has('engine/inspector') && worker.has('trace/tracing'), [...worker].join(' '));
    for (const name of ['engine/inspector', 'http/client', 'trace/sdk', 'undici', '@opentelemetry/api', '@opentelemetry/sdk-trace-base', 'nodemailer']) {
      assert.ok(!main.has(name), `the serving thread loaded ${name}`);
    }
    for (const name of ['trace/sdk', '@opentelemetry/api', '@opentelemetry/sdk-trace-base', '@opentelemetry/resources']) {
      assert.ok(!worker.has(name), `the round thread loaded ${name} with no trace endpoint`);
    }
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit').catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
