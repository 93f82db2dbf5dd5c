// A small JSON path: `data.usedCount`, `$.data.result[0].ws`, `frames[-1].code`.
// Enough for reading API answers; checked at config load time so a typo fails early.

export type PathStep = string | number;

const STEP = /^(?:\.?([A-Za-z_$\u00c0-\uffff][\w$\u00c0-\uffff-]*)|\[(-?\d+)\]|\["([^"]*)"\])/;

/** The steps of a path, or an error message. */
export function parsePath(path: string): PathStep[] | string {
  let rest = path.trim();
  if (rest === '' ) return 'empty JSON path';
  if (rest === '$') return [];
  if (rest.startsWith('$')) rest = rest.slice(1);
  const steps: PathStep[] = [];
  let first = true;
  while (rest.length > 0) {
    const m = STEP.exec(rest);
    if (!m || (first && rest.startsWith('.') && !path.trim().startsWith('$'))) {
      return `invalid JSON path "${path}" near "${rest.slice(0, 20)}": use dotted names and [index], e.g. data.items[0].count`;
    }
    if (m[1] !== undefined) steps.push(m[1]);
    else if (m[2] !== undefined) steps.push(Number(m[2]));
    else steps.push(m[3]);
    rest = rest.slice(m[0].length);
    first = false;
  }
  return steps;
}

export type Lookup = { found: true; value: unknown } | { found: false };

export function lookup(root: unknown, path: string | PathStep[]): Lookup {
  const steps = typeof path === 'string' ? parsePath(path) : path;
  if (typeof steps === 'string') return { found: false };
  let cur: unknown = root;
  for (const step of steps) {
    if (typeof step === 'number') {
      if (!Array.isArray(cur)) return { found: false };
      const i = step < 0 ? cur.length + step : step;
      if (i < 0 || i >= cur.length) return { found: false };
      cur = cur[i];
    } else {
      if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, step)) return { found: false };
      cur = (cur as Record<string, unknown>)[step];
    }
  }
  return { found: true, value: cur };
}
