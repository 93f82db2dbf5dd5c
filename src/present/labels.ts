// The words of the digest and the pages, in Chinese (the original report's language, the default)
// and English. One table per locale, so a missing label is a type error rather than a blank cell.
import type { AuthCheckResult, RoundTrigger, Verdict } from '../types.js';

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
  /** `maintenance`: services not inspected because a maintenance window covered them (not in `run`). */
  summary: (run: number, ok: number, failed: number, other: number, maintenance?: number) => string;
  latestRound: string;
  noRounds: string;
  failureReasons: string;
  /** Before an OpenTelemetry trace id (docs/tracing.md). */
  trace: string;
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
  /** The pages' own words (the status and details pages): one locale per page, as the digest. */
  page: PageLabels;
  /** The status page's list of maintenance windows (docs/maintenance.md). */
  windows: { title: string; colStart: string; colEnd: string; all: string; now: string; more: (n: number) => string };
}

export interface PageLabels {
  running: (done: number, total: number | string) => string;
  noRoundYet: string;
  aborted: string;
  triggers: Record<RoundTrigger, string>;
  colVerdict: string;
  colReason: string;
  colOkRounds: string;
  colRecent: string;
  recentStrip: (name: string) => string;
  backToStatus: string;
  lastVerdicts: (n: number) => string;
  noVerdicts: string;
  delta: string;
  expected: string;
  settle: string;
  authOk: string;
  colCall: string;
  colKind: string;
  colStatus: string;
  colDuration: string;
  colResult: string;
  colCallDetails: string;
  colAuthCheck: string;
  colOutcome: string;
  callOk: string;
  callFailed: string;
  /** A failed expectation: what was expected and what was seen (both already escaped HTML). */
  expectation: (expected: string, actual: string) => string;
  outcomes: Record<AuthCheckResult['outcome'], string>;
  request: string;
  response: string;
  round: string;
  /** A long text was cut: how many characters were left out. */
  cut: (n: number) => string;
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
  summary: (run, ok, failed, other, maintenance = 0) => `执行 ${run}，成功 ${ok}，失败 ${failed}${other > 0 ? `，无法判断 ${other}` : ''}${maintenance > 0 ? `，维护中 ${maintenance}` : ''}`,
  latestRound: '最近一轮',
  noRounds: '当日没有巡检记录。',
  failureReasons: '失败原因',
  trace: '追踪 ID',
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
  legend: '绿: 正常  红: 调用失败  橙: 扣量不符  紫: 查量失败  深红: 鉴权失败  灰: 无法判断  蓝: 维护中',
  abortedServices: (n) => `另有 ${n} 个服务因巡检程序停止而未完成（不计入执行、成功或失败）`,
  abortedRounds: (n) => `${n} 轮因巡检程序停止而中断（未完成的服务不计入任何统计）`,
  colUnexplained: '轮间额外用量',
  unexplainedTitle: '轮间额外用量明细（两轮之间计数器的变化）',
  colUnits: '数量',
  colKind: '类型',
  colExplanation: '说明',
  lateCharge: '延迟扣量',
  unexplainedKind: '来源不明',
  page: {
    running: (done, total) => `一轮巡检正在进行：已完成 ${done}/${total} 个服务。`,
    noRoundYet: '还没有完成的巡检。',
    aborted: '已中断',
    triggers: { startup: '启动时', schedule: '定时', api: '接口触发', cli: '命令行' },
    colVerdict: '结果',
    colReason: '原因',
    colOkRounds: '正常轮次',
    colRecent: '最近结果（旧 → 新）',
    recentStrip: (name) => `${name}：最近结果`,
    backToStatus: '← 巡检状态',
    lastVerdicts: (n) => `最近 ${n} 次结果，最新的在前。`,
    noVerdicts: '此服务没有记录。',
    delta: '实际增量',
    expected: '预期增量',
    settle: '扣量到账',
    authOk: '鉴权检查通过',
    colCall: '调用',
    colKind: '类型',
    colStatus: '状态码',
    colDuration: '耗时',
    colResult: '结果',
    colCallDetails: '原因、未满足的预期、请求与响应摘录',
    colAuthCheck: '鉴权检查',
    colOutcome: '结果',
    callOk: '成功',
    callFailed: '失败',
    expectation: (expected, actual) => `预期 ${expected}，实际 <b>${actual}</b>`,
    outcomes: { rejected: '已拒绝（正常）', accepted: '被接受（失败）', error: '无法判断' },
    request: '请求',
    response: '响应',
    round: '轮次',
    cut: (n) => `[另有 ${n} 个字符未显示]`,
  },
  verdicts: {
    ok: '正常',
    call_failed: '调用失败',
    count_query_failed: '查量失败',
    metering_mismatch: '扣量不符',
    auth_failed: '鉴权失败',
    indeterminate: '无法判断',
    maintenance: '维护中',
  },
  windows: { title: '维护窗口', colStart: '开始', colEnd: '结束', all: '全部服务', now: '进行中', more: (n) => `另有 ${n} 个维护窗口（GET /api/maintenance）` },
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
  summary: (run, ok, failed, other, maintenance = 0) => `Run ${run}, succeeded ${ok}, failed ${failed}${other > 0 ? `, not judged ${other}` : ''}${maintenance > 0 ? `, in maintenance ${maintenance}` : ''}`,
  latestRound: 'Latest round',
  noRounds: 'No rounds were recorded on this day.',
  failureReasons: 'Why they failed',
  trace: 'trace',
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
  legend: 'green: ok  red: call failed  orange: metering mismatch  purple: count query failed  dark red: auth failed  grey: not judged  blue: maintenance',
  abortedServices: (n) => `${n} more not finished: the exporter was stopped (not counted as run, succeeded or failed)`,
  abortedRounds: (n) => `${n} cut short by shutdown (what they did not finish is in no figure)`,
  colUnexplained: 'Units between rounds',
  unexplainedTitle: 'Usage between rounds (the counter moved between two rounds)',
  colUnits: 'Units',
  colKind: 'Kind',
  colExplanation: 'Explanation',
  lateCharge: 'late charge',
  unexplainedKind: 'unexplained',
  page: {
    running: (done, total) => `A round is running: ${done}/${total} services done.`,
    noRoundYet: 'No round has finished yet.',
    aborted: 'aborted',
    triggers: { startup: 'at start-up', schedule: 'scheduled', api: 'by the API', cli: 'from the command line' },
    colVerdict: 'Verdict',
    colReason: 'Reason',
    colOkRounds: 'Ok',
    colRecent: 'Recent verdicts (oldest → newest)',
    recentStrip: (name) => `${name}: recent verdicts`,
    backToStatus: '← status',
    lastVerdicts: (n) => `Last ${n} verdict(s), newest first.`,
    noVerdicts: 'No verdict recorded for this service.',
    delta: 'Delta',
    expected: 'Expected',
    settle: 'Settle',
    authOk: 'Auth ok',
    colCall: 'Call',
    colKind: 'Kind',
    colStatus: 'Status',
    colDuration: 'Duration',
    colResult: 'Result',
    colCallDetails: 'Reason, failed expectations, excerpts',
    colAuthCheck: 'Auth check',
    colOutcome: 'Outcome',
    callOk: 'ok',
    callFailed: 'failed',
    expectation: (expected, actual) => `expected ${expected}, actual <b>${actual}</b>`,
    outcomes: { rejected: 'rejected (good)', accepted: 'accepted (bad)', error: 'could not tell' },
    request: 'Request',
    response: 'Response',
    round: 'Round',
    cut: (n) => `[${n} more characters]`,
  },
  verdicts: {
    ok: 'ok',
    call_failed: 'call failed',
    count_query_failed: 'count query failed',
    metering_mismatch: 'metering mismatch',
    auth_failed: 'auth failed',
    indeterminate: 'indeterminate',
    maintenance: 'maintenance',
  },
  windows: { title: 'Maintenance windows', colStart: 'Starts', colEnd: 'Ends', all: 'all services', now: 'now', more: (n) => `${n} more (GET /api/maintenance)` },
};

export function labelsFor(locale: Locale): Labels {
  return locale === 'en' ? en : zh;
}
