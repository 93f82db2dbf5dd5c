// The Dockerfile's build stage runs `npm run build` and starts `node dist/cli.js`: prove both work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';

test('the TypeScript compiles to JavaScript that runs (the Docker image path)', () => {
  // Inside the project, so that the compiled files find node_modules as dist/ does.
  mkdirSync('test-output', { recursive: true });
  const out = mkdtempSync(path.join('test-output', 'dist-'));
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', out], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(build.status, 0, build.stdout + build.stderr);
  assert.ok(existsSync(path.join(out, 'cli.js')));
  const run = spawnSync(process.execPath, [path.join(out, 'cli.js'), 'check-config', '--config.file=examples/demo.yml'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /examples\/demo\.yml: OK/);
  rmSync(out, { recursive: true, force: true });
});
