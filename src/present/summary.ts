// A round as the original email's table: one row per service, and the counts of its summary line.
// The status page, the email's two parts and the digest's latest round all show this one summary.
import { VERDICT_OUTCOME, type RoundResult, type ServiceResult, type Verdict } from '../types.js';

/** A verdict that counts as a failure in the table and the 失败 count. */
export function isFailure(v: Verdict): boolean {
  return VERDICT_OUTCOME[v] === 'failed';
}

/** A counter reading as the table keeps it: its value, or only that the read failed. */
export type TableReading = { ok: true; value: number } | { ok: false } | null;

/** One row of the original table. Metering and call are judged separately. */
export interface TableRow {
  serviceId: string;
  name: string;
  before: TableReading;
  after: TableReading;
  /** null: not judged; `countQueryOk` says whether because a read failed. */
  meteringOk: boolean | null;
  countQueryOk: boolean;
  /** null: no call was made (a maintenance window). */
  callOk: boolean | null;
  verdict: Verdict;
  reason: string;
  failed: boolean;
  /** The round's OpenTelemetry trace, when it has one. */
  traceId?: string;
}

export interface RoundSummary {
  id: string;
  startedAt: number;
  finishedAt: number;
  run: number;
  ok: number;
  failed: number;
  /** Neither ok nor failed (indeterminate). */
  other: number;
  /** Not inspected: inside a maintenance window (not in `run`). */
  maintenance: number;
  /** Services shutdown stopped before they finished: not in the rows, not counted as run. */
  aborted: number;
  rows: TableRow[];
}

const readingOf = (r: ServiceResult['before']): TableReading => (r === null ? null : r.ok ? { ok: true, value: r.value } : { ok: false });

export function summariseRound(round: RoundResult): RoundSummary {
  const rows: TableRow[] = round.services.map((s) => ({
    serviceId: s.serviceId,
    name: s.name,
    before: readingOf(s.before),
    after: readingOf(s.after),
    meteringOk: s.meteringOk,
    countQueryOk: s.countQueryOk,
    callOk: s.verdict === 'maintenance' ? null : s.callOk,
    verdict: s.verdict,
    reason: s.reason,
    failed: isFailure(s.verdict),
    ...(s.traceId ? { traceId: s.traceId } : {}),
  }));
  const ok = rows.filter((r) => r.verdict === 'ok').length;
  const failed = rows.filter((r) => r.failed).length;
  const maintenance = rows.filter((r) => r.verdict === 'maintenance').length;
  const run = rows.length - maintenance;
  return { id: round.id, startedAt: round.startedAt, finishedAt: round.finishedAt, run, ok, failed, other: run - ok - failed, maintenance, aborted: round.abortedServices?.length ?? 0, rows };
}
