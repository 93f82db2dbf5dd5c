// Replays a calendar through the stack: watches the exporter's rounds (its history API), and right
// after round N completes switches off what ends at N and does what starts at N. Records when each
// thing happened and which rounds ran under which faults: the scorer compares that with what the
// exporter, Prometheus and Alertmanager made of it.
import { DEMO_ACCOUNT } from '../../src/sim/platform.js';
import type { RoundResult } from '../../src/types.js';
import { isFault, type Calendar, type Entry, type FaultKind } from './calendar.js';
import { sleep, waitFor, type Stack } from './stack.js';

/** A round as the harness saw it. `n` is its number in the calendar (null: cut short by the harness). */
export interface SeenRound {
  n: number | null;
  id: string;
  startedAt: number;
  finishedAt: number;
  round: RoundResult;
}

export interface Applied {
  entry: Entry;
  /** When it was switched on / done (ms). */
  onAt: number;
  /** When it was switched off / its effect ended (ms); null while on, or when it never ended. */
  offAt: number | null;
  error?: string;
}

export interface Replay {
  rounds: SeenRound[];
  applied: Applied[];
  day: string;
  log: string[];
}

const SLOW_MS = 6000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

async function postJson(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
}

export async function replay(stack: Stack, cal: Calendar, opts: { settleTimeoutMs: number; say: (line: string) => void }): Promise<Replay> {
  const { sim, exporterUrl } = stack;
  const rounds: SeenRound[] = [];
  const applied: Applied[] = [];
  const log: string[] = [];
  const say = (line: string) => {
    const stamped = `${new Date().toISOString().slice(11, 19)} ${line}`;
    log.push(stamped);
    opts.say(stamped);
  };
  const seen = new Set<string>();
  const cutIds = new Set<string>();
  let numbered = 0;
  const startDay = dayOf(Date.now());

  const serviceFaults = (kind: FaultKind): Record<string, unknown> => {
    switch (kind) {
      case 'over': return { double: true };
      case 'under': return { dropEvery: 1 };
      case 'failedCallCharged': return { error5xx: true, meterFailed: true };
      case 'authAccepted': return { acceptBadCredentials: true };
      case 'countQueryDown': return { usageDown: true };
      case 'slowCalls': return { slowMs: SLOW_MS };
      // Longer than the settle timeout, shorter than the gap to the next round.
      case 'lateCharge': return { lagMs: opts.settleTimeoutMs + 3000 };
      case 'loginDown': return {};
    }
  };

  /** New rounds of the day from the exporter's history, oldest first (empty while it restarts). */
  const fetchNew = async (): Promise<RoundResult[]> => {
    try {
      const res = await fetch(`${exporterUrl}/api/rounds?date=${dayOf(Date.now())}`);
      if (!res.ok) return [];
      const body = (await res.json()) as { rounds: RoundResult[] };
      return body.rounds.filter((r) => !seen.has(r.id)).sort((a, b) => a.startedAt - b.startedAt);
    } catch {
      return [];
    }
  };

  /** Records every new round; returns how many numbered rounds were added. */
  const collect = async (): Promise<number> => {
    let added = 0;
    for (const r of await fetchNew()) {
      seen.add(r.id);
      const cut = cutIds.has(r.id);
      const n = cut ? null : ++numbered;
      rounds.push({ n, id: r.id, startedAt: r.startedAt, finishedAt: r.finishedAt, round: r });
      say(`round ${n ?? '(cut)'} ${r.id} ${r.services.map((s) => `${s.serviceId}=${s.verdict}`).join(' ')}`);
      if (n !== null) added++;
    }
    return added;
  };

  /** Waits until every configured service has read its counter in the round now starting. */
  const untilCountersRead = async () => {
    const from = sim.stats().usageReads;
    await waitFor('the next round reading its counters', () => (sim.stats().usageReads >= from + cal.services.length ? true : undefined), cal.roundSeconds * 3000, 20);
  };

  const restart = async () => {
    await sleep(1000);
    await stack.startExporter();
  };

  const switchOn = async (e: Entry): Promise<number | null> => {
    if (isFault(e)) {
      if (e.kind === 'loginDown') {
        await postJson(`${sim.url}/_sim/faults`, { global: { loginDown: true } });
        await postJson(`${sim.url}/_sim/expire-sessions`, {});
      } else {
        await postJson(`${sim.url}/_sim/faults`, { service: e.service, faults: serviceFaults(e.kind) });
      }
      return null;
    }
    switch (e.kind) {
      case 'otherTraffic': {
        for (let i = 0; i < (e.calls ?? 1); i++) {
          const res = await fetch(`${sim.url}/v1/${e.service}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-appid': DEMO_ACCOUNT.appId, 'x-api-key': DEMO_ACCOUNT.apiKey },
            body: JSON.stringify({ text: 'someone else' }),
          });
          if (res.status !== 200) throw new Error(`other traffic: ${res.status}`);
        }
        return Date.now();
      }
      case 'reload': {
        stack.writeConfig({ names: { [cal.services[0]]: `${cal.services[0]} (reloaded)` } });
        const res = await fetch(`${exporterUrl}/-/reload`, { method: 'POST' });
        if (!res.ok) throw new Error(`reload: ${res.status} ${await res.text()}`);
        return Date.now();
      }
      case 'kill9':
        await stack.exporter.stop('SIGKILL');
        await restart();
        return Date.now();
      case 'sigtermMidRound': {
        await untilCountersRead();
        await stack.exporter.stop('SIGTERM');
        const stoppedAt = Date.now();
        await restart();
        // Whatever the exporter saved of the round it was in is the cut round, never a numbered one.
        for (const r of await fetchNew()) if (r.startedAt < stoppedAt) cutIds.add(r.id);
        return Date.now();
      }
      case 'counterResetMidRound':
        await untilCountersRead();
        await postJson(`${sim.url}/_sim/reset-counters`, {});
        return Date.now();
      case 'smtpOutageAtDigest': {
        const failures = async () => {
          const text = await (await fetch(`${exporterUrl}/metrics`)).text();
          const m = /^patrol_digest_failures_total(?:\{[^}]*\})? (\S+)$/m.exec(text);
          return m ? Number(m[1]) : 0;
        };
        const before = await failures();
        const delivered = stack.smtp.received.length;
        await stack.smtp.stop();
        const at = new Date(Date.now() + 4000);
        stack.writeConfig({ digestCron: `${at.getUTCSeconds()} ${at.getUTCMinutes()} ${at.getUTCHours()} * * *` });
        stack.exporter.signal('SIGHUP');
        await waitFor('the digest failing while SMTP is down', async () => ((await failures()) > before ? true : undefined), 60_000, 250);
        await stack.smtp.start();
        say('SMTP server back; waiting for the digest to be delivered');
        await waitFor('the digest delivered after SMTP came back', () => (stack.smtp.received.length > delivered ? true : undefined), 60_000, 250);
        return Date.now();
      }
    }
  };

  const switchOff = async (e: Entry) => {
    if (!isFault(e)) return;
    if (e.kind === 'loginDown') await postJson(`${sim.url}/_sim/faults`, { global: {} });
    else await postJson(`${sim.url}/_sim/faults`, { service: e.service, faults: {} });
  };

  const deadline = Date.now() + (cal.rounds + 6) * cal.roundSeconds * 1000 + 120_000;
  let handled = 0;
  while (numbered < cal.rounds && Date.now() < deadline) {
    await collect();
    // Act on every boundary passed since the last look (normally exactly one).
    while (handled < numbered) {
      handled++;
      for (const a of applied) {
        if (isFault(a.entry) && a.entry.until === handled && a.offAt === null) {
          await switchOff(a.entry);
          a.offAt = Date.now();
          say(`off ${a.entry.kind} ${a.entry.service}`);
        }
      }
      for (const e of cal.entries.filter((x) => x.at === handled)) {
        const a: Applied = { entry: e, onAt: Date.now(), offAt: null };
        applied.push(a);
        say(`on ${e.kind} ${e.service}`);
        try {
          const done = await switchOn(e);
          if (done !== null) a.offAt = done;
        } catch (err) {
          a.error = (err as Error).message;
          say(`FAILED ${e.kind}: ${a.error}`);
          if (!stack.exporter.running) await stack.startExporter().catch(() => undefined);
        }
      }
    }
    await sleep(250);
  }
  if (numbered < cal.rounds) say(`only ${numbered} of ${cal.rounds} rounds completed before the deadline`);
  // Let the last notifications (resolutions after the last round) arrive, then stop the exporter
  // right after a round completes, so the history read next holds exactly the rounds seen here.
  await sleep(Math.min(10_000, cal.roundSeconds * 1000));
  await waitFor('one more round', async () => ((await collect()) > 0 ? true : undefined), cal.roundSeconds * 3000, 100).catch(() => undefined);
  await stack.exporter.stop('SIGTERM');
  say('exporter stopped');
  return { rounds, applied, day: startDay, log };
}
