// The short fault calendar (bench/truth) through the whole stack: the simulated platform, the real
// exporter as a child process, a real Prometheus with the shipped rules, a real Alertmanager with
// the shipped example's routes, a webhook receiver and an SMTP server. Every injected fault must
// page its alert for its service within two rounds and resolve within two, nothing else may page
// (a kill -9 and a reload included), and the day's digest must equal the calendar's ground truth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { SHORT } from '../bench/truth/calendar.js';
import { runTruth } from '../bench/truth/run.js';
import { requireTool } from './helpers/tools.js';

test('short fault calendar: every fault paged and resolved within 2 rounds, no false page, digest equal to ground truth', async (t) => {
  if (!requireTool(t, 'prometheus') || !requireTool(t, 'alertmanager')) return;
  const result = await runTruth(SHORT);
  for (const line of result.text.split('\n')) t.diagnostic(line);
  // The scorer must have had something to score: a calendar that applied nothing cannot pass.
  assert.equal(result.replay.applied.length, SHORT.entries.length, `entries applied:\n${result.replay.log.join('\n')}`);
  assert.ok(result.replay.rounds.filter((r) => r.n !== null).length >= SHORT.rounds, 'every round of the calendar ran');
  assert.ok(result.score.alerts.length > 0, 'at least one alert expectation scored');
  assert.equal(result.score.missed, 0, `${result.text}\n\nreplay log (${result.dir}):\n${result.replay.log.join('\n')}`);
  // Kept for reading when the test fails (the logs of every part are there); removed when it passes.
  rmSync(result.dir, { recursive: true, force: true });
});
