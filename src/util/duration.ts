// Durations in the Prometheus style ("1h30m", "10s", "500ms"), or a plain number of seconds.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** The longest delay a Node timer keeps (2^31-1 ms, about 24.8 days): a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Milliseconds, or an error message. No upper bound here: each config field states its own (schema.ts). */
export function parseDuration(input: string | number): number | string {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) return `invalid duration ${input}: must be a non-negative number of seconds`;
    return Math.round(input * 1000);
  }
  const text = input.trim();
  if (text === '') return 'invalid duration "": empty';
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(PART)) {
    if (m.index !== consumed) break;
    total += Number(m[1]) * UNIT_MS[m[2]];
    consumed += m[0].length;
  }
  if (consumed !== text.length) return `invalid duration "${input}": use a number with a unit such as 500ms, 10s, 5m, 1h`;
  return Math.round(total);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
