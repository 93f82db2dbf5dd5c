import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { inShard, parseShard, shardOf } from '../src/shard.js';
import { startSimulator } from '../src/sim/platform.js';
import { ocrConfig } from './helpers/harness.js';
import { runPatrol } from './helpers/process.js';

const ids = Array.from({ length: 3000 }, (_, i) => `service-${i}`);

test('N shards cover every service exactly once, evenly', () => {
  for (const n of [1, 2, 3, 5, 8]) {
    const owners = ids.map((id) => Array.from({ length: n }, (_, i) => i).filter((i) => inShard({ index: i, count: n })(id)));
    assert.ok(owners.every((o) => o.length === 1), `n=${n}: every id in exactly one shard`);
    const sizes = Array.from({ length: n }, (_, i) => owners.filter((o) => o[0] === i).length);
    for (const size of sizes) assert.ok(Math.abs(size - ids.length / n) < (ids.length / n) * 0.15, `n=${n}: shard sizes ${sizes}`);
  }
});

test('resharding N -> N+1 moves only about 1/(N+1) of the services, all to the new shard', () => {
  for (const n of [2, 4, 9]) {
    const moved = ids.filter((id) => shardOf(id, n) !== shardOf(id, n + 1));
    const share = moved.length / ids.length;
    assert.ok(Math.abs(share - 1 / (n + 1)) < 0.04, `n=${n}: moved ${share.toFixed(3)}, expected about ${(1 / (n + 1)).toFixed(3)}`);
    assert.ok(moved.every((id) => shardOf(id, n + 1) === n), 'services move only to the new shard');
  }
});

test('the assignment is pinned (the same on every machine and version) and --shard is validated', () => {
  // Deployed shards rely on these: a change of hash would move services between running replicas
  // (inspected twice or not at all during a rollout). A new hash must change this table on purpose.
  const pinned: [string, number, number][] = [
    ['ocr', 1, 1], ['nlp', 1, 1], ['tts', 6, 0], ['asr', 5, 1],
    ['service-0', 3, 1], ['service-1', 6, 2], ['service-2', 3, 1], ['文字识别', 6, 0],
  ];
  for (const [id, of7, of3] of pinned) assert.deepEqual([shardOf(id, 7), shardOf(id, 3)], [of7, of3], id);
  assert.equal(shardOf('ocr', 1), 0);
  assert.deepEqual(parseShard('2/5'), { index: 2, count: 5 });
  assert.throws(() => parseShard('5/5'), /i must be 0 to N-1/);
  assert.throws(() => parseShard('a/b'), /expected i\/N/);
});

test('run-once --shard=i/N inspects only that shard; the shards together cover every service', async () => {
  const sim = await startSimulator({ lagMs: 50 });
  try {
    const copies = ['a', 'b', 'c', 'd', 'e'].map((x) => `
  - id: ocr-${x}
    app_id: app-${x}
    business_id: ocr
    calls:
      - name: recognise
        units: 0
        http: { method: POST, url: "{{vars.platform_url}}/v1/ocr", json: { text: "x" } }
        expect: { status: 401 }
`).join('');
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'patrol-shard-')), 'patrol.yml');
    writeFileSync(file, ocrConfig({ serviceExtra: copies, platformUrl: sim.url }));
    const seen: string[] = [];
    for (const i of [0, 1, 2]) {
      const r = await runPatrol(['run-once', `--config.file=${file}`, `--shard=${i}/3`, '--json']);
      const ids = (JSON.parse(r.stdout) as { services: { serviceId: string }[] }).services.map((s) => s.serviceId);
      for (const id of ids) assert.equal(shardOf(id, 3), i);
      seen.push(...ids);
    }
    assert.deepEqual(seen.sort(), ['ocr', 'ocr-a', 'ocr-b', 'ocr-c', 'ocr-d', 'ocr-e']);
  } finally {
    await sim.close();
  }
});

test('the StatefulSet example derives --shard from the pod ordinal and the replica count', async () => {
  const docs = parseAllDocuments(readFileSync('deploy/kubernetes/statefulset.yml', 'utf8')).map((d) => d.toJS());
  const sts = docs.find((d) => d.kind === 'StatefulSet');
  const container = sts.spec.template.spec.containers[0];
  const replicasEnv = container.env.find((e: { name: string }) => e.name === 'REPLICAS').value;
  assert.equal(Number(replicasEnv), sts.spec.replicas);
  assert.match(container.args.join(' '), /--shard=\$\{POD_NAME##\*-\}\/\$\{REPLICAS\}/);
  // What the shell makes of it for pod patrol-2 is a valid shard.
  assert.deepEqual(parseShard(`${'patrol-2'.replace(/^.*-/, '')}/${replicasEnv}`), { index: 2, count: 3 });
});
