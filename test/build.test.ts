// The Dockerfile's build stage runs `npm run build` and starts `node dist/cli.js`: prove both work.
// And the `patrol` command: rebuilt when the sources changed in a checkout, ready-made when installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

test('the TypeScript compiles to JavaScript that runs (the Docker image path)', async () => {
  // Inside the project, so that the compiled files find node_modules as dist/ does.
  mkdirSync('test-output', { recursive: true });
  const out = mkdtempSync(path.join('test-output', 'dist-'));
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', out], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(build.status, 0, build.stdout + build.stderr);
  assert.ok(existsSync(path.join(out, 'cli.js')));
  const run = spawnSync(process.execPath, [path.join(out, 'cli.js'), 'check-config', '--config.file=examples/demo.yml'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /examples\/demo\.yml: OK/);

  // Away from a git checkout (an installed package, the image), the revision is the one the build
  // wrote into dist/build-info.json, and "unknown" without it.
  const version = () => spawnSync(process.execPath, [path.join(out, 'cli.js'), '--version'], { encoding: 'utf8', timeout: 120_000 });
  assert.match(version().stdout, /^patrol_exporter, version \S+ \(revision: unknown\) nodejs: v\d+\.\d+\.\d+\n$/);
  writeFileSync(path.join(out, 'build-info.json'), JSON.stringify({ revision: '0123456789abcdef0123456789abcdef01234567' }));
  assert.match(version().stdout, /\(revision: 0123456789abcdef0123456789abcdef01234567\) nodejs: /);

  // The compiled exporter runs its rounds in dist's worker (the image's path): the demo finishes one.
  const demo = spawn(process.execPath, [path.join(out, 'cli.js'), 'demo', '--web.listen-address=127.0.0.1:0', '--sim.listen-address=127.0.0.1:0', '--sim.lag=200ms', '--config.file=examples/demo.yml', `--storage.path=${path.join(out, 'demo.db')}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  demo.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  try {
    const until = Date.now() + 90_000;
    while (!/"msg":"round finished"/.test(log) && Date.now() < until && demo.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    assert.match(log, /"trigger":"startup"[^\n]*"failed":0[^\n]*"msg":"round finished"/, log);
  } finally {
    demo.kill('SIGTERM');
    await once(demo, 'exit');
  }
  rmSync(out, { recursive: true, force: true });
});

test('bin/patrol.js rebuilds dist/ in a checkout when src/ changed, once, and the build records the revision', () => {
  const run = (env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, ['bin/patrol.js', '--version'], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } });
  // A build to start from: a fresh checkout has none (its first run says "first run").
  const initial = run();
  assert.equal(initial.status, 0, initial.stderr);
  // A source file newer than the last build (as after an edit, a pull or a merge).
  const later = new Date();
  utimesSync('src/version.ts', later, later);
  const first = run({ PATROL_REVISION: 'feedface'.repeat(5) });
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stderr, /patrol: compiling src\/ to dist\/ \(src\/ changed since the last build\)/);
  // stdout stays the version line alone (the compiler writes to stderr).
  assert.match(first.stdout, /^patrol_exporter, version \S+ \(revision: [0-9a-f]{40}\) nodejs: \S+\n$/);
  assert.deepEqual(JSON.parse(readFileSync('dist/build-info.json', 'utf8')), { revision: 'feedface'.repeat(5) });
  const again = run();
  assert.equal(again.status, 0, again.stderr);
  assert.equal(again.stderr, '', 'up to date: no rebuild');
  assert.equal(again.stdout, first.stdout);
});

test('the packed package runs `npx patrol` where it is installed: no build step, revision from the build', () => {
  const root = process.cwd();
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-installed-'));
  try {
    // `npm pack` runs `prepare` (the build) and packs what package.json's "files" names.
    const pack = spawnSync('npm', ['pack', '--pack-destination', dir, '--json'], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(pack.status, 0, pack.stderr);
    const [{ filename, files }] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    const paths = files.map((f) => f.path);
    for (const p of ['bin/patrol.js', 'dist/cli.js', 'dist/build-info.json', 'examples/demo.yml']) assert.ok(paths.includes(p), `packed: ${p}`);
    assert.ok(!paths.some((p) => p.startsWith('src/')), 'no TypeScript sources in the package');
    // Laid out as npm installs it into a project; its dependencies resolve from this checkout's.
    const extract = spawnSync('tar', ['xzf', path.join(dir, filename), '-C', dir], { encoding: 'utf8' });
    assert.equal(extract.status, 0, extract.stderr);
    const consumer = path.join(dir, 'consumer');
    mkdirSync(path.join(consumer, 'node_modules', '.bin'), { recursive: true });
    writeFileSync(path.join(consumer, 'package.json'), '{ "name": "consumer", "version": "1.0.0", "private": true }\n');
    const installed = path.join(consumer, 'node_modules', 'patrol_exporter');
    renameSync(path.join(dir, 'package'), installed);
    symlinkSync(path.join(root, 'node_modules'), path.join(installed, 'node_modules'));
    symlinkSync('../patrol_exporter/bin/patrol.js', path.join(consumer, 'node_modules', '.bin', 'patrol'));

    const head = spawnSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
    const version = spawnSync('npx', ['patrol', '--version'], { cwd: consumer, encoding: 'utf8', timeout: 60_000 });
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stderr, '', 'nothing compiled');
    assert.match(version.stdout, new RegExp(`^patrol_exporter, version \\S+ \\(revision: ${head}\\) nodejs: ${process.version}\\n$`));
    const check = spawnSync('npx', ['patrol', 'check-config', '--config.file=node_modules/patrol_exporter/examples/demo.yml'], { cwd: consumer, encoding: 'utf8', timeout: 60_000 });
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stdout, /demo\.yml: OK/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
