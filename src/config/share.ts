// Identical parts of a loaded config made one object. A config of thousands of services is mostly
// the same few shapes over and over (written from a template: the same calls, expectations, URL
// templates, the schema's empty defaults), and each copy costs heap in both threads: the round
// thread gets the config by structured clone, which keeps an object referred to twice one object.
// At 5,000 services of the benchmarks' config: 14.2 -> 5.2 MB in each thread (BENCHMARKS.md,
// "One copy of what services share").
//
// What is shared is frozen: a part changed for one service would change for every service that
// shares it, so a change throws instead (ES modules run in strict mode).

/** A value and what identifies its content: a JSON literal, `#n` for a shared part, `!n` for a part never shared. */
interface Visited {
  value: unknown;
  key: string;
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** The same value, with every plain object and array made one with its equals, and strings too. */
export function shareAlike<T>(root: T): T {
  const strings = new Map<string, string>();
  const parts = new Map<string, Visited>();
  let unique = 0;
  const visit = (v: unknown): Visited => {
    if (typeof v === 'string') {
      let s = strings.get(v);
      if (s === undefined) strings.set(v, (s = v));
      return { value: s, key: JSON.stringify(s) };
    }
    if (typeof v === 'number') return { value: v, key: Object.is(v, -0) ? '-0' : String(v) };
    if (v === null || v === undefined || typeof v === 'boolean') return { value: v, key: String(v) };
    // Anything else (a Date, a RegExp, a class's instance, a function) is kept as it is, and a part
    // that holds it is never shared.
    if (typeof v !== 'object' || !(Array.isArray(v) || isPlainObject(v))) return { value: v, key: `!${unique++}` };
    let key: string;
    let value: unknown[] | Record<string, unknown>;
    let children: Visited[];
    if (Array.isArray(v)) {
      children = v.map(visit);
      key = `[${children.map((c) => c.key).join(',')}]`;
      value = children.map((c) => c.value);
    } else {
      const entries = Object.entries(v).map(([k, x]) => [k, visit(x)] as const);
      children = entries.map(([, c]) => c);
      const bare = Object.getPrototypeOf(v) === null;
      key = `${bare ? 'null' : ''}{${entries.map(([k, c]) => `${JSON.stringify(k)}:${c.key}`).join(',')}}`;
      value = Object.fromEntries(entries.map(([k, c]) => [k, c.value]));
      if (bare) Object.setPrototypeOf(value, null);
    }
    if (children.some((c) => c.key.startsWith('!'))) return { value, key: `!${unique++}` };
    const seen = parts.get(key);
    if (seen) return seen;
    const part = { value: Object.freeze(value), key: `#${parts.size}` };
    parts.set(key, part);
    return part;
  };
  return visit(root).value as T;
}
