// The fault calendar: what is switched on and off, when (counted in completed rounds), and what
// should follow (the alert that pages, for which service, and the effect on the day's digest).
// Everything the scorer expects is written here as data, so expectations are edited here, not in
// the replay or the scoring code.

/** Alert names, by role. Edit this table when the rules are renamed; `null` = no such alert yet. */
export const ALERTS = {
  callFailing: 'PatrolServiceCallFailing',
  meteringMismatch: 'PatrolMeteringMismatch',
  meteringRecurring: 'PatrolMeteringMismatchesRecurring',
  authCheck: 'PatrolAuthCheckFailing',
  countQuery: 'PatrolCountQueryFailing',
  slowCalls: 'PatrolSlowCalls',
  digestFailing: 'PatrolDigestFailing',
  unexplainedUsage: 'PatrolUnexplainedUsage',
} satisfies Record<string, string | null>;
export type AlertRole = keyof typeof ALERTS;

/** The verdict every round gets while a fault is on (ground truth for the digest). */
export type TruthVerdict = 'ok' | 'call_failed' | 'count_query_failed' | 'metering_mismatch' | 'auth_failed' | 'indeterminate';

export interface RoundTruth {
  verdict: TruthVerdict;
  /** A metering mismatch the digest must list for each such round. */
  mismatch?: { direction: 'over' | 'under'; size: number };
}

/** Faults held from one round boundary to another, on one service (or the whole platform). */
export type FaultKind =
  | 'over' //               every call meters 2 units
  | 'under' //              no call is metered
  | 'failedCallCharged' //  calls answer 500 and are metered anyway
  | 'authAccepted' //       a wrong api key is accepted (and metered)
  | 'countQueryDown' //     this service's usage read answers 500
  | 'loginDown' //          the console login answers 503 (sessions expired first): every counter
  | 'slowCalls' //          every answer takes slowMs (the call still succeeds)
  | 'lateCharge'; //        metering lags longer than the settle timeout

/** One-off actions, done right after round `at` completes (or during the round after it). */
export type EventKind =
  | 'otherTraffic' //       `calls` valid calls to the service made by someone else, between rounds
  | 'reload' //             POST /-/reload (same file, one service renamed)
  | 'kill9' //              kill -9 between rounds, restart
  | 'sigtermMidRound' //    SIGTERM once every service has read its counter, restart
  | 'counterResetMidRound' // the platform's midnight: counters back to 0 during a round
  | 'smtpOutageAtDigest'; //  stop the SMTP server, trigger the digest, start the SMTP server again

export interface Expectation {
  /** The alert that must page (null: nothing may page for this entry). */
  alert: AlertRole | null;
  /**
   * Other alerts the same cause raises on the same service. They are not false pages, but each
   * firing one is scored as a second page for one cause (goal 0: inhibitions keep one page).
   */
  alsoExplains?: AlertRole[];
  /** Rounds from onset to the page, and from the end to the resolved notification. */
  pageWithinRounds?: number;
  resolveWithinRounds?: number | null;
}

interface EntryBase {
  /** Done right after this many rounds have completed (rounds counted from the exporter's start). */
  at: number;
  /** The service id (= the simulator's service name); '*' for the whole platform. */
  service: string;
  expect: Expectation;
  /** Units that appear on the service's counter between two rounds because of this entry. */
  unexplainedUnits?: number;
  note?: string;
}

export interface FaultEntry extends EntryBase {
  kind: FaultKind;
  /** Switched off right after this many rounds have completed (> at). */
  until: number;
  /** The verdict of every round while the fault is on. */
  truth: RoundTruth;
}

export interface EventEntry extends EntryBase {
  kind: EventKind;
  calls?: number;
  /** The verdict of the round the event happens in (mid-round events). */
  truth?: RoundTruth;
}

export type Entry = FaultEntry | EventEntry;

export function isFault(e: Entry): e is FaultEntry {
  return 'until' in e;
}

/** Digest figures the scorer compares with ground truth (one missing from the digest is a miss). */
export type DigestField = 'rounds' | 'perService' | 'mismatches' | 'unexplained';

export interface Calendar {
  name: string;
  /** Seconds between rounds (the exporter's schedule: a 6-field cron every N seconds). */
  roundSeconds: number;
  /** Rounds to run in all (the replay ends when this many have completed). */
  rounds: number;
  /** The services configured (each an HTTP service of the simulator with one call and one auth check). */
  services: string[];
  entries: Entry[];
  digestFields: DigestField[];
}

const DEFAULT_GOAL = 2;
export const DEFAULT_RESOLVE = DEFAULT_GOAL;
export const goalOf = (e: Expectation) => ({
  page: e.pageWithinRounds ?? DEFAULT_GOAL,
  resolve: e.resolveWithinRounds === undefined ? DEFAULT_GOAL : e.resolveWithinRounds,
});

const SERVICES = ['steady', 'over', 'under', 'charged', 'auth', 'count', 'slow', 'late', 'shared'];

/** The full day: every verdict class, the late charge, other traffic, restarts, a reload, midnight, SMTP down. */
export const FULL: Calendar = {
  name: 'full',
  roundSeconds: 15,
  rounds: 34,
  services: SERVICES,
  digestFields: ['rounds', 'perService', 'mismatches', 'unexplained'],
  entries: [
    { at: 2, until: 5, kind: 'over', service: 'over', truth: { verdict: 'metering_mismatch', mismatch: { direction: 'over', size: 1 } }, expect: { alert: 'meteringMismatch', alsoExplains: ['meteringRecurring'] } },
    { at: 2, until: 5, kind: 'under', service: 'under', truth: { verdict: 'metering_mismatch', mismatch: { direction: 'under', size: 1 } }, expect: { alert: 'meteringMismatch', alsoExplains: ['meteringRecurring'] } },
    // The failed call is billed: money first, so the mismatch pages; the call failure is the same cause.
    { at: 3, until: 6, kind: 'failedCallCharged', service: 'charged', truth: { verdict: 'metering_mismatch', mismatch: { direction: 'over', size: 1 } }, expect: { alert: 'meteringMismatch', alsoExplains: ['callFailing', 'meteringRecurring'] } },
    // The wrong key is accepted and metered: one cause, the auth page wins.
    { at: 3, until: 6, kind: 'authAccepted', service: 'auth', truth: { verdict: 'auth_failed', mismatch: { direction: 'over', size: 1 } }, expect: { alert: 'authCheck', alsoExplains: ['meteringMismatch', 'meteringRecurring'] } },
    { at: 4, until: 7, kind: 'countQueryDown', service: 'count', truth: { verdict: 'count_query_failed' }, expect: { alert: 'countQuery' } },
    { at: 5, until: 8, kind: 'slowCalls', service: 'slow', truth: { verdict: 'ok' }, expect: { alert: 'slowCalls' } },
    // One round's charge lands after the settle timeout: one undercharge, then the same unit between rounds.
    { at: 8, until: 9, kind: 'lateCharge', service: 'late', truth: { verdict: 'metering_mismatch', mismatch: { direction: 'under', size: 1 } }, unexplainedUnits: 1, expect: { alert: null }, note: 'a single late round pages nothing' },
    { at: 10, kind: 'otherTraffic', service: 'shared', calls: 3, unexplainedUnits: 3, expect: { alert: 'unexplainedUsage' } },
    { at: 11, kind: 'reload', service: '*', expect: { alert: null } },
    { at: 13, kind: 'kill9', service: '*', expect: { alert: null } },
    { at: 16, kind: 'sigtermMidRound', service: '*', expect: { alert: null }, note: 'the cut round is aborted: no verdict' },
    { at: 19, kind: 'counterResetMidRound', service: '*', truth: { verdict: 'indeterminate' }, expect: { alert: null } },
    { at: 21, until: 24, kind: 'loginDown', service: '*', truth: { verdict: 'count_query_failed' }, expect: { alert: 'countQuery' } },
    { at: 27, kind: 'smtpOutageAtDigest', service: '', expect: { alert: 'digestFailing' } },
  ],
};

/**
 * The short calendar run by `npm test` (under 3 minutes): an accepted bad credential (pages in its
 * first round), an undercharge (pages in its second), other traffic between rounds (pages in the
 * round that finds it), and a reload, a SIGTERM in the middle of a round and a kill -9, which page
 * nothing; the digest compared in full.
 */
export const SHORT: Calendar = {
  name: 'short',
  roundSeconds: 10,
  rounds: 13,
  services: ['steady', 'auth', 'under', 'shared'],
  digestFields: ['rounds', 'perService', 'mismatches', 'unexplained'],
  entries: [
    { at: 2, until: 4, kind: 'authAccepted', service: 'auth', truth: { verdict: 'auth_failed', mismatch: { direction: 'over', size: 1 } }, expect: { alert: 'authCheck', alsoExplains: ['meteringMismatch', 'meteringRecurring'] } },
    // Two rounds: pages (two in a row) without reaching the recurring-mismatch warning's episodes.
    { at: 2, until: 4, kind: 'under', service: 'under', truth: { verdict: 'metering_mismatch', mismatch: { direction: 'under', size: 1 } }, expect: { alert: 'meteringMismatch', alsoExplains: ['meteringRecurring'] } },
    { at: 5, kind: 'reload', service: '*', expect: { alert: null } },
    { at: 6, kind: 'otherTraffic', service: 'shared', calls: 2, unexplainedUnits: 2, expect: { alert: 'unexplainedUsage' } },
    { at: 8, kind: 'sigtermMidRound', service: '*', expect: { alert: null }, note: 'the cut round is aborted: no verdict' },
    { at: 10, kind: 'kill9', service: '*', expect: { alert: null } },
  ],
};

export const CALENDARS: Record<string, Calendar> = { full: FULL, short: SHORT };
