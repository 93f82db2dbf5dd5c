// Ok verdicts, kept compact: a round's plain ok verdicts are one deflated JSON array of small
// tuples (one row per round), and what does not change from round to round (service id, name, app
// id, metering mode, expected delta, call names and kinds) is a "shape" stored once. A row per ok
// verdict with every column was ~330 bytes per service and round; this is ~10.
// Anything that is not a plain ok verdict (a failure, a finding of usage between rounds, a failed
// call or read in an ok verdict) is kept as a whole row instead, so what is listed one by one is
// always in the rows.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { CallResult, CounterReading, ServiceResult } from '../types.js';
import { findingOf, toMs } from './rollup.js';

/** [serviceId, name, appId, meteringMode, expectedDelta, [[call name, kind], ...]] */
export type Shape = [string, string, string, ServiceResult['meteringMode'], number, [string, CallResult['kind']][]];

/** [position, shape id, start - round start (ms), finish - start (ms), before, after - before, meteringOk, authOk, settle ms, call ms[], call statuses[], reason] */
type Tuple = [number, number, number, number, number | null, number | null, 1 | null, 1 | null, number | null, number[], (number | null)[], string];

export function shapeOf(s: ServiceResult): string {
  const shape: Shape = [s.serviceId, s.name, s.appId, s.meteringMode, s.expectedDelta, s.calls.map((c) => [c.name, c.kind])];
  return JSON.stringify(shape);
}

const plainReading = (r: CounterReading | null) => r === null || (r.ok && Number.isSafeInteger(r.value));

/** A plain ok verdict: everything it says fits a tuple (with durations to the millisecond). */
export function compactable(s: ServiceResult): boolean {
  return (
    s.verdict === 'ok' &&
    s.callOk &&
    s.countQueryOk &&
    s.meteringOk !== false &&
    s.authOk !== false &&
    findingOf(s) === null &&
    plainReading(s.before) &&
    plainReading(s.after) &&
    s.delta === (s.before?.ok && s.after?.ok ? s.after.value - s.before.value : null) &&
    Number.isSafeInteger(s.expectedDelta) &&
    s.calls.every((c) => c.ok && c.reason === '')
  );
}

export function packOks(roundStartedAt: number, oks: { position: number; shapeId: number; s: ServiceResult }[]): Buffer {
  const tuples: Tuple[] = oks.map(({ position, shapeId, s }) => {
    const before = s.before?.ok ? s.before.value : null;
    const after = s.after?.ok ? s.after.value : null;
    return [
      position,
      shapeId,
      s.startedAt - roundStartedAt,
      s.finishedAt - s.startedAt,
      before,
      after === null ? null : after - (before ?? 0),
      s.meteringOk === true ? 1 : null,
      s.authOk === true ? 1 : null,
      s.settleSeconds === null ? null : toMs(s.settleSeconds),
      s.calls.map((c) => toMs(c.durationSeconds)),
      s.calls.map((c) => c.status ?? null),
      s.reason,
    ];
  });
  return deflateRawSync(JSON.stringify(tuples));
}

/** The ok verdicts of a round, as the history gives them back (no excerpts, no auth check details). */
export function unpackOks(data: Uint8Array, roundStartedAt: number, shapeOfId: (id: number) => Shape): { position: number; result: ServiceResult }[] {
  const tuples = JSON.parse(inflateRawSync(data).toString('utf8')) as Tuple[];
  return tuples.map(([position, shapeId, startOff, duration, before, afterDiff, meteringOk, authOk, settleMs, callMs, statuses, reason]) => {
    const [serviceId, name, appId, meteringMode, expectedDelta, calls] = shapeOfId(shapeId);
    const startedAt = roundStartedAt + startOff;
    const finishedAt = startedAt + duration;
    const after = afterDiff === null ? null : (before ?? 0) + afterDiff;
    const reading = (value: number | null, at: number): CounterReading | null => (value === null ? null : { ok: true, value, at, day: '' });
    return {
      position,
      result: {
        serviceId,
        name,
        appId,
        verdict: 'ok',
        reason,
        startedAt,
        finishedAt,
        before: reading(before, startedAt),
        after: reading(after, finishedAt),
        delta: before !== null && after !== null ? after - before : null,
        expectedDelta,
        meteringMode,
        meteringOk: meteringOk === 1 ? true : null,
        callOk: true,
        authOk: authOk === 1 ? true : null,
        countQueryOk: true,
        settleSeconds: settleMs === null ? null : settleMs / 1000,
        calls: calls.map(([callName, kind], i): CallResult => ({
          name: callName,
          kind,
          ok: true,
          durationSeconds: callMs[i] / 1000,
          ...(statuses[i] !== null ? { status: statuses[i]! } : {}),
          reason: '',
          failures: [],
          units: 0,
          extracted: {},
        })),
        authChecks: [],
      },
    };
  });
}
