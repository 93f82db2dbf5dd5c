// `patrol demo` (what `npm start` runs) keeps one history per run: two demos on one machine never
// share a file, each says where its file is, and the file goes when the demo exits. A path given
// with --storage.path is used as given and kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startPatrol, type Running } from './helpers/process.js';

const DEMO = ['demo', '--web.listen-address=127.0.0.1:0', '--sim.listen-address=127.0.0.1:0', '--sim.lag=200ms'];

const historyOf = (p: Running) => /^demo history: (\S+)/m.exec(p.stderr())?.[1];

test('two demo runs on one machine: a history file each, named in the start-up log, removed on exit', async (t) => {
  // The demos' temp directory: TMPDIR, as `npm start` on a shared machine would see it.
  const tmp = mkdtempSync(path.join(tmpdir(), 'patrol-demo-test-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const env = { TMPDIR: tmp };
  const a = await startPatrol(DEMO, env, 120_000);
  t.after(() => a.stop('SIGKILL'));
  const b = await startPatrol(DEMO, env, 120_000);
  t.after(() => b.stop('SIGKILL'));

  const fileA = historyOf(a);
  const fileB = historyOf(b);
  assert.ok(fileA && fileB, `each run names its history:\n${a.stderr()}\n${b.stderr()}`);
  assert.notEqual(fileA, fileB);
  for (const f of [fileA, fileB]) {
    assert.ok(f.startsWith(tmp + path.sep), `${f} is in TMPDIR`);
    assert.ok(existsSync(f), `${f} exists while the demo runs`);
  }
  assert.match(a.stderr(), /this run only, removed on exit/);

  assert.equal(await a.stop('SIGTERM'), 0);
  assert.ok(!existsSync(path.dirname(fileA)), 'the stopped run took its history with it');
  assert.ok(existsSync(fileB), "the other run's history is untouched");
  assert.equal(await b.stop('SIGINT'), 0);
  // (tsx, which runs src/cli.ts here, keeps its own cache in TMPDIR.)
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('patrol-demo-')), [], 'no demo history left in TMPDIR');
});

test('a demo given --storage.path uses that file and keeps it', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'patrol-demo-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'kept.db');
  const p = await startPatrol([...DEMO, `--storage.path=${file}`], {}, 120_000);
  t.after(() => p.stop('SIGKILL'));
  assert.equal(historyOf(p), file);
  assert.doesNotMatch(p.stderr(), /removed on exit/);
  assert.equal(await p.stop('SIGTERM'), 0);
  assert.ok(existsSync(file), 'kept after the demo stopped');
});
