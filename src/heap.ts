// How far V8 lets a heap grow before its next full collection. By default it grows the old
// generation to 1.1-4x what survived the last one, choosing high factors when collecting is fast;
// a round of 5,000 services makes about 80 MB of short-lived garbage in the round worker
// (requests, answers, JSON) while only ~40 MB stays alive, so the worker's heap went from 35 to
// 120 MB before V8 collected it, and the process's peak RSS to ~320 MB. Growing by 20 % instead
// (with the worker's smaller young generation, worker/host.ts) keeps the peak at ~230 MB for ~13 %
// more CPU in the round (BENCHMARKS.md, "The heap's growth"). The flag is process-wide: it applies
// to the serving thread and the round worker.
import v8 from 'node:v8';

export const HEAP_GROWING_PERCENT = 20;

/**
 * Sets the heap growth for this process unless node was started with its own
 * `--heap-growing-percent=N` (which then stays). Returns the percent in force.
 * Call it before the round worker starts.
 */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv): number {
  // V8 takes the flag with dashes or underscores.
  const given = execArgv.map((a) => a.replaceAll('_', '-')).find((a) => a.startsWith('--heap-growing-percent='));
  if (given) return Number(given.split('=')[1]);
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return HEAP_GROWING_PERCENT;
}
