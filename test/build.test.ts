// The Dockerfile's build stage runs `npm run build` and starts `node dist/cli.js`: prove both work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';

test('the TypeScript compiles to JavaScript that runs (the Docker image path)', async () => {
  // Inside the project, so that the compiled files find node_modules as dist/ does.
  mkdirSync('test-output', { recursive: true });
  const out = mkdtempSync(path.join('test-output', 'dist-'));
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', out], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(build.status, 0, build.stdout + build.stderr);
  assert.ok(existsSync(path.join(out, 'cli.js')));
  const run = spawnSync(process.execPath, [path.join(out, 'cli.js'), 'check-config', '--config.file=examples/demo.yml'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /examples\/demo\.yml: OK/);

  // The compiled exporter runs its rounds in dist's worker (the image's path): the demo finishes one.
  const demo = spawn(process.execPath, [path.join(out, 'cli.js'), 'demo', '--web.listen-address=127.0.0.1:0', '--sim.listen-address=127.0.0.1:0', '--sim.lag=200ms', '--config.file=examples/demo.yml', `--storage.path=${path.join(out, 'demo.db')}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  demo.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  try {
    const until = Date.now() + 30_000;
    while (!/"msg":"round finished"/.test(log) && Date.now() < until && demo.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    assert.match(log, /"trigger":"startup"[^\n]*"failed":0[^\n]*"msg":"round finished"/, log);
  } finally {
    demo.kill('SIGTERM');
    await once(demo, 'exit');
  }
  rmSync(out, { recursive: true, force: true });
});
