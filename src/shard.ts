// Sharding past one machine (README.md "Past one machine: shards"): `--shard=i/N` keeps the
// services whose id hashes to shard i. Rendezvous hashing (highest random weight): each service
// goes to the shard with the highest hash of (shard, id). It needs no table, is stable across
// restarts and machines, and going from N to N+1 shards moves only the services the new shard
// wins: about 1/(N+1).
import { createHash } from 'node:crypto';

export interface Shard {
  index: number;
  count: number;
}

export function parseShard(text: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`--shard: expected i/N such as 0/3, got "${text}"`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) throw new Error(`--shard: i must be 0 to N-1 and N at least 1, got "${text}"`);
  return { index, count };
}

function weight(shard: number, id: string): bigint {
  return createHash('sha256').update(`${shard}\u0000${id}`).digest().readBigUInt64BE(0);
}

/** The shard (0..count-1) a service id belongs to. */
export function shardOf(id: string, count: number): number {
  let best = 0;
  let bestWeight = -1n;
  for (let i = 0; i < count; i++) {
    const w = weight(i, id);
    if (w > bestWeight) {
      best = i;
      bestWeight = w;
    }
  }
  return best;
}

export function inShard(shard: Shard): (id: string) => boolean {
  return (id) => shard.count === 1 || shardOf(id, shard.count) === shard.index;
}
