// Scoring a replay: pages against the calendar, notifications nobody caused, and the day's digest
// against ground truth. Ground truth comes from the calendar and from which rounds ran under which
// faults (the harness switched them only between rounds), never from the exporter's own verdicts.
import type { DigestData } from '../../src/digest/build.js';
import { ALERTS, DEFAULT_RESOLVE, goalOf, isFault, type AlertRole, type Calendar, type DigestField, type Entry, type RoundTruth } from './calendar.js';
import type { Replay, SeenRound } from './replay.js';
import type { Notified } from './stack.js';

export interface AlertRow {
  entry: string;
  service: string;
  alert: string;
  paged: boolean;
  pageRounds: number | null;
  resolved: boolean;
  resolveRounds: number | null;
  ok: boolean;
  why: string;
  /** Rows of entries that expect no page: shown, but their misses are counted as false pages. */
  counted: boolean;
}

export interface DigestRow {
  figure: string;
  truth: string;
  digest: string;
  ok: boolean;
}

export interface Score {
  alerts: AlertRow[];
  /** Firing notifications nobody caused, and resolutions of those. */
  falsePages: Notified[];
  /** Firing notifications of a second alert for one cause on one service (`alsoExplains`): one cause should page once. */
  extraPages: Notified[];
  /** Other alerts of one cause that came in the same notification as its page (not a second page; shown). */
  withThePage: Notified[];
  digest: DigestRow[];
  missed: number;
}

const nameOf = (role: AlertRole): string | null => ALERTS[role];
const label = (e: Entry) => `${e.kind}${e.service && e.service !== '*' ? ` ${e.service}` : ''} @${e.at}${isFault(e) ? `-${e.until}` : ''}`;
const targets = (e: Entry, cal: Calendar): (string | undefined)[] => (e.service === '*' ? cal.services : [e.service === '' ? undefined : e.service]);

const keyOf = (n: Notified) => JSON.stringify(Object.entries(n.labels).sort(([x], [y]) => x.localeCompare(y)));

/**
 * What each notification told its receiver: Alertmanager sends a whole group again whenever it
 * changes (an alert joins or resolves), so a notification repeats alerts the receiver already
 * knows. Per receiver, keep an alert (its labels) only where its state changes: firing after not
 * firing, resolved after firing. Judged by order, not by time windows.
 */
export function changes(ns: Notified[]): Notified[] {
  const state = new Map<string, Notified['status']>();
  const out: Notified[] = [];
  for (const n of [...ns].sort((a, b) => a.at - b.at || a.post - b.post)) {
    const key = `${n.receiver}\n${keyOf(n)}`;
    if ((state.get(key) ?? 'resolved') === n.status) continue;
    state.set(key, n.status);
    out.push(n);
  }
  return out;
}

/**
 * The changes the operator saw, whichever receivers got them: a critical alert reaches both the
 * pager and the team's mailbox in the shipped routes, which is one page, not two. The first
 * receiver's copy of each change is kept.
 */
export function distinct(ns: Notified[]): Notified[] {
  const state = new Map<string, Notified['status']>();
  const out: Notified[] = [];
  for (const n of changes(ns)) {
    const key = keyOf(n);
    if ((state.get(key) ?? 'resolved') === n.status) continue;
    state.set(key, n.status);
    out.push(n);
  }
  return out;
}

/** When the k-th calendar round that started at or after `from` finished (Infinity: the run ended first). */
function afterRounds(rounds: SeenRound[], from: number, k: number): number {
  const later = rounds.filter((r) => r.n !== null && r.startedAt >= from).sort((x, y) => x.finishedAt - y.finishedAt);
  return later.length >= k ? later[k - 1].finishedAt : Number.POSITIVE_INFINITY;
}

/** Rounds that started at or after `from` and finished by `to` (cut rounds do not count). */
function roundsBetween(rounds: SeenRound[], from: number, to: number): number {
  return rounds.filter((r) => r.n !== null && r.startedAt >= from && r.finishedAt <= to).length;
}

/** Ground truth of one numbered round for one service. */
export function truthOf(cal: Calendar, n: number, service: string): RoundTruth {
  for (const e of cal.entries) {
    if (!e.truth) continue;
    if (e.service !== '*' && e.service !== service) continue;
    const on = isFault(e) ? e.at < n && n <= e.until : n === e.at + 1;
    if (on) return e.truth;
  }
  return { verdict: 'ok' };
}

export function score(cal: Calendar, rep: Replay, all: Notified[], digest: DigestData | null, digestError?: string): Score {
  const perReceiver = changes(all);
  const notified = distinct(all);
  const rows: AlertRow[] = [];
  const explained = new Set<Notified>();
  const extra = new Set<Notified>();
  const together = new Set<Notified>();
  const quietRows: { row: AlertRow; svc: string | undefined; from: number; to: number }[] = [];
  // An entry's effects may show until this many rounds after its end (its resolution goal, plus
  // the round in which the resolved notification is sent). Counted in rounds, not seconds: on a
  // loaded machine rounds run late and ticks are skipped.
  const until = (a: Replay['applied'][number], grace: number) => (a.offAt === null ? Number.POSITIVE_INFINITY : afterRounds(rep.rounds, a.offAt, grace));
  /** Whether `n` started firing in the same notification as `alert` did (one page, both in it). */
  const samePage = (n: Notified, alert: string | null) =>
    perReceiver.some((c) => c.post === n.post && c.alertname === alert && c.serviceId === n.serviceId && c.status === 'firing');

  for (const a of rep.applied) {
    const e = a.entry;
    const goal = goalOf(e.expect);
    const roles = [...(e.expect.alert ? [e.expect.alert] : []), ...(e.expect.alsoExplains ?? [])];
    const grace = (goal.resolve ?? DEFAULT_RESOLVE) + 1;
    const expected = e.expect.alert ? nameOf(e.expect.alert) : null;
    if (!e.expect.alert) {
      const row: AlertRow = { entry: label(e), service: e.service || '-', alert: '(none expected)', paged: false, pageRounds: null, resolved: false, resolveRounds: null, ok: !a.error, why: a.error ? `not applied: ${a.error}` : '', counted: false };
      rows.push(row);
      quietRows.push({ row, svc: e.service === '*' ? undefined : e.service, from: a.onAt, to: until(a, grace) });
    }
    for (const svc of targets(e, cal)) {
      // Explanations: what this cause may raise, on its services, from onset to a few rounds after its end.
      for (const n of notified) {
        if (n.serviceId !== svc && !(svc === undefined && e.service === '')) continue;
        if (!roles.some((r) => nameOf(r) === n.alertname)) continue;
        if (n.at < a.onAt || n.at > until(a, grace)) continue;
        explained.add(n);
        // Another alert of the same cause is a second page unless it came in the notification
        // that paged the expected alert (one page that states both facts).
        if (n.status === 'firing' && n.alertname !== expected) (samePage(n, expected) ? together : extra).add(n);
      }
      if (!e.expect.alert) continue;
      const alert = nameOf(e.expect.alert);
      const row: AlertRow = { entry: label(e), service: svc ?? '-', alert: alert ?? `(${e.expect.alert}: no such alert)`, paged: false, pageRounds: null, resolved: false, resolveRounds: null, ok: false, why: '', counted: true };
      if (a.error) row.why = `not applied: ${a.error}`;
      const mine = (n: Notified) => n.alertname === alert && n.serviceId === svc;
      const fired = notified.find((n) => mine(n) && n.status === 'firing' && n.at >= a.onAt);
      if (alert && fired) {
        row.paged = true;
        row.pageRounds = roundsBetween(rep.rounds, a.onAt, fired.at);
      }
      const resolvedAt = a.offAt === null ? undefined : notified.find((n) => mine(n) && n.status === 'resolved' && n.at >= (fired?.at ?? a.onAt) && n.at >= a.offAt!);
      if (resolvedAt) {
        row.resolved = true;
        row.resolveRounds = roundsBetween(rep.rounds, a.offAt!, resolvedAt.at);
      }
      const pageOk = row.paged && row.pageRounds! <= goal.page;
      const resolveOk = goal.resolve === null || (row.resolved && row.resolveRounds! <= goal.resolve);
      row.ok = !a.error && pageOk && resolveOk;
      if (!row.why) row.why = !row.paged ? 'never paged' : !pageOk ? `paged after ${row.pageRounds} rounds (goal <= ${goal.page})` : !row.resolved && goal.resolve !== null ? 'never resolved' : !resolveOk ? `resolved after ${row.resolveRounds} rounds (goal <= ${goal.resolve})` : '';
      rows.push(row);
    }
  }
  // A resolution is explained when the firing it ends was.
  const firingKeys = new Set([...explained].map((n) => `${n.alertname}/${n.serviceId}`));
  const falsePages = notified.filter((n) => !explained.has(n) && !(n.status === 'resolved' && firingKeys.has(`${n.alertname}/${n.serviceId}`)));
  // Entries that expect no page show what paged around them anyway.
  for (const q of quietRows) {
    const hits = falsePages.filter((n) => n.status === 'firing' && n.at >= q.from && n.at <= q.to && (q.svc === undefined || n.serviceId === q.svc));
    if (hits.length > 0) {
      q.row.paged = true;
      q.row.ok = false;
      q.row.why = `paged: ${[...new Set(hits.map((n) => `${n.alertname}${n.serviceId ? ` ${n.serviceId}` : ''}`))].join(', ')}`;
    }
  }
  const extraPages = [...extra].sort((x, y) => x.at - y.at);
  const withThePage = [...together].sort((x, y) => x.at - y.at);
  // Entries that failed to apply, with no alert row to show it, still count as misses.
  const unapplied = rows.filter((r) => !r.counted && r.why.startsWith('not applied')).length;
  const digestRows = compareDigest(cal, rep, digest, digestError);
  const missed = rows.filter((r) => r.counted && !r.ok).length + falsePages.length + extraPages.length + digestRows.filter((r) => !r.ok).length + unapplied;
  return { alerts: rows, falsePages, extraPages, withThePage, digest: digestRows, missed };
}

// ---------------------------------------------------------------------------------------------
// The digest against ground truth

interface DayTruth {
  rounds: number;
  perService: Map<string, { rounds: number; ok: number; failed: number; indeterminate: number }>;
  mismatches: Map<string, string[]>;
  /** Findings of usage between rounds, in time order: `late_charge 1`, `unexplained 3`. */
  unexplained: Map<string, string[]>;
}

/** What the exporter should call the units an entry adds between rounds. */
const betweenKind = (e: Entry): 'late_charge' | 'unexplained' => (e.kind === 'lateCharge' ? 'late_charge' : 'unexplained');

function dayTruth(cal: Calendar, rep: Replay): DayTruth {
  const numbered = rep.rounds.filter((r) => r.n !== null);
  const perService = new Map<string, { rounds: number; ok: number; failed: number; indeterminate: number }>();
  const mismatches = new Map<string, string[]>();
  const unexplained = new Map<string, string[]>();
  for (const s of cal.services) {
    const c = { rounds: 0, ok: 0, failed: 0, indeterminate: 0 };
    const m: string[] = [];
    for (const r of numbered) {
      const t = truthOf(cal, r.n!, s);
      c.rounds++;
      if (t.verdict === 'ok') c.ok++;
      else if (t.verdict === 'indeterminate') c.indeterminate++;
      else c.failed++;
      if (t.mismatch) m.push(`${t.mismatch.direction} ${t.mismatch.size}`);
    }
    perService.set(s, c);
    mismatches.set(s, m);
    unexplained.set(s, []);
  }
  // In the order applied, which is time order: each entry's units show in the round after it.
  for (const a of rep.applied) {
    if (a.error || !a.entry.unexplainedUnits) continue;
    for (const s of targets(a.entry, cal)) if (s) unexplained.get(s)?.push(`${betweenKind(a.entry)} ${a.entry.unexplainedUnits}`);
  }
  return { rounds: numbered.length, perService, mismatches, unexplained };
}

const FAILURES = ['call_failed', 'count_query_failed', 'metering_mismatch', 'auth_failed'] as const;

function compareDigest(cal: Calendar, rep: Replay, digest: DigestData | null, digestError?: string): DigestRow[] {
  const truth = dayTruth(cal, rep);
  const rows: DigestRow[] = [];
  const add = (field: DigestField, figure: string, t: string, d: string) => {
    if (cal.digestFields.includes(field)) rows.push({ figure, truth: t, digest: d, ok: t === d });
  };
  if (!digest) {
    rows.push({ figure: 'digest', truth: 'built', digest: digestError ?? 'not built', ok: false });
    return rows;
  }
  add('rounds', 'rounds', String(truth.rounds), String(digest.rounds));
  for (const s of cal.services) {
    const t = truth.perService.get(s)!;
    const d = digest.services.find((x) => x.serviceId === s);
    const count = (v: string) => d?.hours.reduce((sum, h) => sum + ((h as Record<string, number>)[v] ?? 0), 0) ?? 0;
    const dFailed = FAILURES.reduce((sum, v) => sum + count(v), 0);
    const fmt = (rounds: number, ok: number, failed: number, ind: number) => `${rounds} rounds: ${ok} ok, ${failed} failed${ind ? `, ${ind} indeterminate` : ''}`;
    add('perService', `${s}`, fmt(t.rounds, t.ok, t.failed, t.indeterminate), d ? fmt(d.rounds, d.ok, dFailed, count('indeterminate')) : 'absent');
    const tm = truth.mismatches.get(s)!.join(', ') || 'none';
    const dm = (d?.mismatches ?? []).map((m) => `${m.direction} ${m.size}`).join(', ') || 'none';
    add('mismatches', `${s} mismatches`, tm, dm);
    // The digest's list of findings (kind and units, time order), and its per-service total must agree.
    const found = digest.unexplained.filter((u) => u.serviceId === s);
    const du = found.map((u) => `${u.kind} ${u.units}`).join(', ') || 'none';
    const total = found.reduce((sum, u) => sum + u.units, 0);
    const dTotal = d?.unexplainedUnits ?? 0;
    add('unexplained', `${s} between rounds`, truth.unexplained.get(s)!.join(', ') || 'none', dTotal === total ? du : `${du} (but unexplainedUnits ${dTotal})`);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// The table

function table(head: string[], body: string[][]): string {
  const width = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(width[i])).join(' | ')} |`;
  return [line(head), `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

export function render(cal: Calendar, s: Score): string {
  const out: string[] = [];
  out.push(`Faults (calendar "${cal.name}", ${cal.roundSeconds} s rounds; goal: paged within 2 rounds of onset, resolved within 2 of the end)`, '');
  out.push(table(['fault', 'service', 'alert', 'paged', 'rounds', 'resolved', 'rounds', 'result'], s.alerts.map((r) => [
    r.entry, r.service, r.alert, r.paged ? 'yes' : 'no', r.pageRounds === null ? '-' : String(r.pageRounds), r.resolved ? 'yes' : 'no', r.resolveRounds === null ? '-' : String(r.resolveRounds), r.ok ? 'ok' : `${r.counted ? 'MISS' : 'see below'}: ${r.why}`,
  ])));
  const list = (ns: Notified[]) => table(['time', 'receiver', 'status', 'alert', 'service'], ns.map((n) => [new Date(n.at).toISOString().slice(11, 19), n.receiver, n.status, n.alertname, n.serviceId ?? '-']));
  out.push('', `Notifications not explained by an injected fault: ${s.falsePages.length} (goal 0)`);
  if (s.falsePages.length > 0) out.push('', list(s.falsePages));
  out.push('', `Second pages for one cause on one service: ${s.extraPages.length} (goal 0: one cause, one page)`);
  if (s.extraPages.length > 0) out.push('', list(s.extraPages));
  if (s.withThePage.length > 0) {
    out.push('', `Other alerts of the same cause in the same notification as its page (one page stating both): ${s.withThePage.length}`, '', list(s.withThePage));
  }
  out.push('', 'Digest against ground truth (goal: equal)', '');
  out.push(table(['figure', 'truth', 'digest', 'result'], s.digest.map((r) => [r.figure, r.truth, r.digest, r.ok ? 'ok' : 'MISS'])));
  out.push('', `Missed goals: ${s.missed}`);
  return out.join('\n');
}
