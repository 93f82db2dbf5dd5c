// One replay of a calendar, start to score: the stack up, the calendar played, the digest read from
// the history, everything torn down.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DigestData } from '../../src/digest/build.js';
import { queryDigest } from '../../src/digest/query.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { Calendar } from './calendar.js';
import { replay, type Replay } from './replay.js';
import { render, score, type Score } from './score.js';
import { startStack } from './stack.js';

/** Longer than the 1 s metering lag, shorter than a round gap; a late charge is settle + 3 s late. */
const SETTLE_TIMEOUT_MS = 4000;
const LAG_MS = 1000;

export interface TruthResult {
  score: Score;
  replay: Replay;
  text: string;
  dir: string;
  seconds: number;
}

export async function runTruth(cal: Calendar, opts: { dir?: string; say?: (line: string) => void } = {}): Promise<TruthResult> {
  const t0 = Date.now();
  const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), `patrol-truth-${cal.name}-`));
  const say = opts.say ?? (() => undefined);
  say(`working directory ${dir} (logs of every part are there)`);
  const stack = await startStack({ dir, services: cal.services, roundSeconds: cal.roundSeconds, settleTimeoutMs: SETTLE_TIMEOUT_MS, lagMs: LAG_MS });
  let rep: Replay;
  let digest: DigestData | null = null;
  let digestError: string | undefined;
  try {
    rep = await replay(stack, cal, { settleTimeoutMs: SETTLE_TIMEOUT_MS, say });
    try {
      const store = new SqliteStore(stack.dbPath);
      try {
        digest = queryDigest(store, rep.day, 'UTC');
      } finally {
        store.close();
      }
    } catch (err) {
      digestError = (err as Error).message;
    }
  } finally {
    await stack.close();
  }
  const notified = [...stack.webhook.notified];
  // Kept next to the logs, to check the score by hand: every notification as received, every round seen.
  writeFileSync(path.join(dir, 'notifications.json'), `${JSON.stringify(notified, null, 1)}\n`);
  writeFileSync(path.join(dir, 'replay.log'), `${rep.log.join('\n')}\n`);
  const s = score(cal, rep, notified, digest, digestError);
  const seconds = Math.round((Date.now() - t0) / 1000);
  return { score: s, replay: rep, text: `${render(cal, s)}\n\nTook ${seconds} s.`, dir, seconds };
}
