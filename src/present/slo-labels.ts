// The words of the error budgets (the digest) and the badges, in each locale, beside the other
// labels (labels.ts): a Record over the locales, so neither language can be left out.
import type { Locale } from './labels.js';

export interface SloLabels {
  budgetTitle: string;
  colService: string;
  colSli: string;
  colObjective: string;
  colWindow: string;
  colGood: string;
  colBudgetLeft: string;
  availability: string;
  metering: string;
  /** "good / total" events of the window. */
  goodOf: (good: number, total: number) => string;
  noEvents: string;
  exhausted: string;
  /** The history holds less than the window: since when the figures are. */
  since: (day: string) => string;
  budgetNote: string;
  badgeLastVerdict: string;
  badgeUptime: (window: string) => string;
  noData: string;
}

const LABELS: Record<Locale, SloLabels> = {
  zh: {
    budgetTitle: '错误预算（SLO）',
    colService: '服务名称',
    colSli: '指标',
    colObjective: '目标',
    colWindow: '窗口',
    colGood: '达标/总数',
    colBudgetLeft: '剩余预算',
    availability: '可用性',
    metering: '扣量准确性',
    goodOf: (good, total) => `${good}/${total}`,
    noEvents: '无数据',
    exhausted: '已耗尽',
    since: (day) => `（历史自 ${day} 起）`,
    budgetNote: '剩余预算 = 1 − 失败比例 ÷ (1 − 目标)，按窗口内（截至报告日结束）的历史计算；可用性按调用次数，扣量准确性按已判定的扣量检查。',
    badgeLastVerdict: '巡检',
    badgeUptime: (w) => `可用率 ${w}`,
    noData: '无数据',
  },
  en: {
    budgetTitle: 'Error budgets (SLO)',
    colService: 'Service',
    colSli: 'SLI',
    colObjective: 'Objective',
    colWindow: 'Window',
    colGood: 'Good/total',
    colBudgetLeft: 'Budget left',
    availability: 'availability',
    metering: 'metering accuracy',
    goodOf: (good, total) => `${good}/${total}`,
    noEvents: 'no data',
    exhausted: 'exhausted',
    since: (day) => `(history since ${day})`,
    budgetNote: 'Budget left = 1 − error ratio ÷ (1 − objective), from the history over the window up to the end of the reported day; availability counts calls, metering accuracy counts judged metering checks.',
    badgeLastVerdict: 'patrol',
    badgeUptime: (w) => `uptime ${w}`,
    noData: 'no data',
  },
};

export function sloLabelsFor(locale: Locale): SloLabels {
  return LABELS[locale];
}
