import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inShard, parseShard, shardOf } from '../src/shard.js';

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

test('the assignment is stable (same answer every time) and --shard is validated', () => {
  assert.equal(shardOf('ocr', 7), shardOf('ocr', 7));
  assert.deepEqual(parseShard('2/5'), { index: 2, count: 5 });
  assert.throws(() => parseShard('5/5'), /i must be 0 to N-1/);
  assert.throws(() => parseShard('a/b'), /expected i\/N/);
});
