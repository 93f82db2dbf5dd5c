// The short fault calendar (bench/truth) through the whole stack: the simulated platform, the real
// exporter as a child process, a real Prometheus with the shipped rules, a real Alertmanager with
// the shipped example's routes, a webhook receiver and an SMTP server. Every injected fault must
// page its alert for its service within two rounds and resolve within two, nothing else may page
// (a reload, a SIGTERM mid-round and a kill -9 included), and the day's digest must equal the
// calendar's ground truth. The scorer itself is checked first, on notifications written by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { SHORT, type Calendar, type Entry } from '../bench/truth/calendar.js';
import type { Replay, SeenRound } from '../bench/truth/replay.js';
import { runTruth } from '../bench/truth/run.js';
import { distinct, score } from '../bench/truth/score.js';
import type { Notified } from '../bench/truth/stack.js';
import type { RoundResult } from '../src/types.js';
import { requireTool } from './helpers/tools.js';

// ---------------------------------------------------------------- the scorer, by hand

const T0 = Date.parse('2026-01-01T00:00:00Z');
const CHARGED: Entry = {
  at: 1,
  until: 3,
  kind: 'failedCallCharged',
  service: 'a',
  truth: { verdict: 'metering_mismatch', mismatch: { direction: 'over', size: 1 } },
  expect: { alert: 'meteringMismatch', alsoExplains: ['callFailing'] },
};
const cal = (entries: Entry[]): Calendar => ({ name: 'by hand', roundSeconds: 10, rounds: 8, services: ['a', 'b'], entries, digestFields: [] });

/** Rounds `gapS` seconds apart, each taking 3 s; numbered from 1. */
function rounds(count: number, gapS: number): SeenRound[] {
  return Array.from({ length: count }, (_, i) => ({ n: i + 1, id: `r${i + 1}`, startedAt: T0 + i * gapS * 1000, finishedAt: T0 + i * gapS * 1000 + 3000, round: {} as RoundResult }));
}
const endOf = (rs: SeenRound[], n: number) => rs[n - 1].finishedAt;

let post = 0;
/** One notification (one POST) to `receiver` carrying these alerts, `s` seconds after T0. */
function notify(s: number, receiver: string, alerts: [string, 'firing' | 'resolved'][], service = 'a'): Notified[] {
  post++;
  return alerts.map(([alertname, status]) => ({ at: T0 + s * 1000, post, receiver, alertname, serviceId: service, status, labels: { alertname, service_id: service } }));
}

test('scorer: a group sent again and to two receivers is one page; resolutions likewise', () => {
  const ns = [
    ...notify(30, 'pager', [['PatrolMeteringMismatch', 'firing']]),
    ...notify(30.1, 'team-email', [['PatrolMeteringMismatch', 'firing']]),
    // The group changed (another service's alert would be another group): sent again, nothing new.
    ...notify(45, 'pager', [['PatrolMeteringMismatch', 'firing']]),
    ...notify(50, 'pager', [['PatrolMeteringMismatch', 'resolved']]),
    ...notify(50.1, 'team-email', [['PatrolMeteringMismatch', 'resolved']]),
    // Firing again later is a new page.
    ...notify(90, 'pager', [['PatrolMeteringMismatch', 'firing']]),
  ];
  assert.deepEqual(distinct(ns).map((n) => [n.at - T0, n.status]), [[30_000, 'firing'], [50_000, 'resolved'], [90_000, 'firing']]);
});

test('scorer: a second alert of one cause is a second page unless it came in the notification that paged', () => {
  const rs = rounds(8, 10);
  const rep = (): Replay => ({ rounds: rs, applied: [{ entry: CHARGED, onAt: endOf(rs, 1) + 100, offAt: endOf(rs, 3) + 100 }], day: '2026-01-01', log: [] });
  // Paged after round 3 (2 rounds after the onset), both alerts in one notification, resolved after round 4.
  const together = [
    ...notify(24, 'pager', [['PatrolMeteringMismatch', 'firing'], ['PatrolServiceCallFailing', 'firing']]),
    ...notify(34, 'pager', [['PatrolMeteringMismatch', 'resolved'], ['PatrolServiceCallFailing', 'resolved']]),
  ];
  let s = score(cal([CHARGED]), rep(), together, null);
  assert.deepEqual(s.alerts.map((r) => [r.alert, r.pageRounds, r.resolveRounds, r.ok]), [['PatrolMeteringMismatch', 2, 1, true]]);
  assert.equal(s.extraPages.length, 0);
  assert.deepEqual(s.withThePage.map((n) => n.alertname), ['PatrolServiceCallFailing']);
  assert.equal(s.falsePages.length, 0);
  // The same two alerts in two notifications: two pages for one cause.
  const apart = [
    ...notify(24, 'pager', [['PatrolMeteringMismatch', 'firing']]),
    ...notify(26, 'pager', [['PatrolMeteringMismatch', 'firing'], ['PatrolServiceCallFailing', 'firing']]),
    ...notify(34, 'pager', [['PatrolMeteringMismatch', 'resolved'], ['PatrolServiceCallFailing', 'resolved']]),
  ];
  s = score(cal([CHARGED]), rep(), apart, null);
  assert.deepEqual(s.extraPages.map((n) => [n.alertname, n.at - T0]), [['PatrolServiceCallFailing', 26_000]]);
  // Nobody caused an alert on service b: a false page, and its resolution too.
  s = score(cal([CHARGED]), rep(), [...together, ...notify(44, 'pager', [['PatrolAuthCheckFailing', 'firing']], 'b'), ...notify(54, 'pager', [['PatrolAuthCheckFailing', 'resolved']], 'b')], null);
  assert.deepEqual(s.falsePages.map((n) => [n.alertname, n.status]), [['PatrolAuthCheckFailing', 'firing'], ['PatrolAuthCheckFailing', 'resolved']]);
});

test('scorer: goals and explanations count rounds, not seconds (slow rounds on a loaded machine)', () => {
  // Rounds 40 s apart although the calendar says 10 s: the resolution 2 rounds after the end
  // comes 80 s after it, and is still on time and explained.
  const rs = rounds(8, 40);
  const rep: Replay = { rounds: rs, applied: [{ entry: CHARGED, onAt: endOf(rs, 1) + 100, offAt: endOf(rs, 3) + 100 }], day: '2026-01-01', log: [] };
  const ns = [
    ...notify(84, 'pager', [['PatrolMeteringMismatch', 'firing']]),
    ...notify(164, 'pager', [['PatrolMeteringMismatch', 'resolved']]),
  ];
  const s = score(cal([CHARGED]), rep, ns, null);
  assert.deepEqual(s.alerts.map((r) => [r.pageRounds, r.resolveRounds, r.ok]), [[2, 2, true]]);
  assert.equal(s.falsePages.length, 0);
  // Three rounds late is a miss.
  const late = score(cal([CHARGED]), rep, [...ns.slice(0, 1), ...notify(204, 'pager', [['PatrolMeteringMismatch', 'resolved']])], null);
  assert.deepEqual(late.alerts.map((r) => [r.resolveRounds, r.ok]), [[3, false]]);
  // An event (done at once) pages after the round that finds it, 41 s later: explained, 1 round.
  const traffic: Entry = { at: 4, kind: 'otherTraffic', service: 'b', calls: 1, unexplainedUnits: 1, expect: { alert: 'unexplainedUsage' } };
  const after = score(cal([traffic]), { ...rep, applied: [{ entry: traffic, onAt: endOf(rs, 4) + 100, offAt: endOf(rs, 4) + 200 }] }, notify(165, 'pager', [['PatrolUnexplainedUsage', 'firing']], 'b'), null);
  assert.deepEqual(after.alerts.map((r) => [r.paged, r.pageRounds]), [[true, 1]]);
  assert.equal(after.falsePages.length, 0);
});

// ---------------------------------------------------------------- the short calendar, for real

test('short fault calendar: every fault paged and resolved within 2 rounds, no false page, digest equal to ground truth', async (t) => {
  if (!requireTool(t, 'prometheus') || !requireTool(t, 'alertmanager')) return;
  const result = await runTruth(SHORT);
  for (const line of result.text.split('\n')) t.diagnostic(line);
  // The scorer must have had something to score: a calendar that applied nothing cannot pass.
  assert.equal(result.replay.applied.length, SHORT.entries.length, `entries applied:\n${result.replay.log.join('\n')}`);
  assert.ok(result.replay.rounds.filter((r) => r.n !== null).length >= SHORT.rounds, 'every round of the calendar ran');
  assert.ok(result.replay.rounds.some((r) => r.n === null), 'the SIGTERM cut a round');
  assert.ok(result.score.alerts.filter((r) => r.counted).length >= 3, 'the auth, undercharge and other-traffic expectations scored');
  assert.ok(result.score.digest.some((r) => r.figure.endsWith('between rounds')), 'the units between rounds compared');
  assert.equal(result.score.missed, 0, `${result.text}\n\nreplay log (${result.dir}):\n${result.replay.log.join('\n')}`);
  // Kept for reading when the test fails (the logs of every part are there); removed when it passes.
  rmSync(result.dir, { recursive: true, force: true });
});
