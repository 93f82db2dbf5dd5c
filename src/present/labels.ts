// The words of the digest and the pages, in Chinese (the original report's language, the default)
// and English. One table per locale, so a missing label is a type error rather than a blank cell.
import type { Verdict } from '../types.js';

export type Locale = 'zh' | 'en';

export interface Labels {
  title: string;
  /** The original table's five columns. */
  colName: string;
  colBefore: string;
  colAfter: string;
  colMetering: string;
  colCall: string;
  yes: string;
  no: string;
  queryFailed: string;
  notJudged: string;
  summary: (run: number, ok: number, failed: number, other: number) => string;
  latestRound: string;
  noRounds: string;
  failureReasons: string;
  theDay: string;
  dayLine: (rounds: number, failedRounds: number) => string;
  colRounds: string;
  colSuccess: string;
  colMismatches: string;
  colCountQueryFailures: string;
  colAuthFailures: string;
  colCallFailures: string;
  colLatency: string;
  colSettle: string;
  colVerdicts: string;
  mismatchTitle: string;
  colTime: string;
  colService: string;
  colDirection: string;
  colSize: string;
  colExpected: string;
  colActual: string;
  over: string;
  under: string;
  none: string;
  /** A long list was cut: how many more there were. */
  more: (n: number) => string;
  timezoneNote: (tz: string) => string;
  legend: string;
  verdicts: Record<Verdict, string>;
  /** Services of the latest round that shutdown stopped before they finished. */
  abortedServices: (n: number) => string;
  /** Rounds of the day cut short by shutdown. */
  abortedRounds: (n: number) => string;
  colUnexplained: string;
  unexplainedTitle: string;
  colUnits: string;
  colKind: string;
  colExplanation: string;
  lateCharge: string;
  unexplainedKind: string;
}

const zh: Labels = {
  title: '开放平台服务调用巡检报告',
  colName: '服务名称',
  colBefore: '今日调用量(调用前)',
  colAfter: '今日调用量(调用后)',
  colMetering: '扣量是否成功',
  colCall: '调用是否成功',
  yes: '成功',
  no: '失败',
  queryFailed: '查量失败',
  notJudged: '无法判断',
  summary: (run, ok, failed, other) => `执行 ${run}，成功 ${ok}，失败 ${failed}${other > 0 ? `，无法判断 ${other}` : ''}`,
  latestRound: '最近一轮',
  noRounds: '当日没有巡检记录。',
  failureReasons: '失败原因',
  theDay: '当日统计',
  dayLine: (rounds, failedRounds) => `巡检 ${rounds} 轮，其中 ${failedRounds} 轮有失败`,
  colRounds: '轮次',
  colSuccess: '成功率',
  colMismatches: '扣量不符',
  colCountQueryFailures: '查量失败',
  colAuthFailures: '鉴权失败',
  colCallFailures: '调用失败',
  colLatency: '调用耗时 p50 / p95 / 最大 (秒)',
  colSettle: '扣量到账 p50 / 最大 (秒)',
  colVerdicts: '当日结果',
  mismatchTitle: '扣量不符明细',
  colTime: '时间',
  colService: '服务',
  colDirection: '方向',
  colSize: '差额',
  colExpected: '预期增量',
  colActual: '实际增量',
  over: '多扣',
  under: '少扣',
  none: '无',
  more: (n) => `另有 ${n} 条未列出（见上表各服务的扣量不符次数）`,
  timezoneNote: (tz) => `时间为 ${tz} 时区。`,
  legend: '绿: 正常  红: 调用失败  橙: 扣量不符  紫: 查量失败  深红: 鉴权失败  灰: 无法判断',
  abortedServices: (n) => `另有 ${n} 个服务因巡检程序停止而未完成（不计入执行、成功或失败）`,
  abortedRounds: (n) => `${n} 轮因巡检程序停止而中断（未完成的服务不计入任何统计）`,
  colUnexplained: '轮间额外用量',
  unexplainedTitle: '轮间额外用量明细（两轮之间计数器的变化）',
  colUnits: '数量',
  colKind: '类型',
  colExplanation: '说明',
  lateCharge: '延迟扣量',
  unexplainedKind: '来源不明',
  verdicts: {
    ok: '正常',
    call_failed: '调用失败',
    count_query_failed: '查量失败',
    metering_mismatch: '扣量不符',
    auth_failed: '鉴权失败',
    indeterminate: '无法判断',
  },
};

const en: Labels = {
  title: 'Open platform service inspection report',
  colName: 'Service',
  colBefore: 'Count today (before)',
  colAfter: 'Count today (after)',
  colMetering: 'Metering ok',
  colCall: 'Call ok',
  yes: 'yes',
  no: 'no',
  queryFailed: 'count query failed',
  notJudged: 'not judged',
  summary: (run, ok, failed, other) => `Run ${run}, succeeded ${ok}, failed ${failed}${other > 0 ? `, not judged ${other}` : ''}`,
  latestRound: 'Latest round',
  noRounds: 'No rounds were recorded on this day.',
  failureReasons: 'Why they failed',
  theDay: 'The day',
  dayLine: (rounds, failedRounds) => `${rounds} rounds, ${failedRounds} with a failure`,
  colRounds: 'Rounds',
  colSuccess: 'Success',
  colMismatches: 'Metering mismatches',
  colCountQueryFailures: 'Count query failures',
  colAuthFailures: 'Auth failures',
  colCallFailures: 'Call failures',
  colLatency: 'Call latency p50 / p95 / max (s)',
  colSettle: 'Settle time p50 / max (s)',
  colVerdicts: 'Verdicts of the day',
  mismatchTitle: 'Metering mismatches',
  colTime: 'Time',
  colService: 'Service',
  colDirection: 'Direction',
  colSize: 'Size',
  colExpected: 'Expected delta',
  colActual: 'Actual delta',
  over: 'over',
  under: 'under',
  none: 'none',
  more: (n) => `and ${n} more, not listed (see the per-service counts above)`,
  timezoneNote: (tz) => `Times are in ${tz}.`,
  legend: 'green: ok  red: call failed  orange: metering mismatch  purple: count query failed  dark red: auth failed  grey: not judged',
  abortedServices: (n) => `${n} more not finished: the exporter was stopped (not counted as run, succeeded or failed)`,
  abortedRounds: (n) => `${n} cut short by shutdown (what they did not finish is in no figure)`,
  colUnexplained: 'Units between rounds',
  unexplainedTitle: 'Usage between rounds (the counter moved between two rounds)',
  colUnits: 'Units',
  colKind: 'Kind',
  colExplanation: 'Explanation',
  lateCharge: 'late charge',
  unexplainedKind: 'unexplained',
  verdicts: {
    ok: 'ok',
    call_failed: 'call failed',
    count_query_failed: 'count query failed',
    metering_mismatch: 'metering mismatch',
    auth_failed: 'auth failed',
    indeterminate: 'indeterminate',
  },
};

export function labelsFor(locale: Locale): Labels {
  return locale === 'en' ? en : zh;
}
