// The assertion language shared by every probe kind: status codes, JSON-path conditions, body
// regexes and a latency limit. Each unmet condition is returned with the value actually seen.
import type { JsonAssertion } from './config/parts.js';
import type { FailedExpectation } from './types.js';
import { lookup } from './jsonpath.js';
import { excerpt, type Redact } from './redact.js';

export type StatusSpec = number | string;

export function statusMatches(status: number, specs: StatusSpec[]): boolean {
  return specs.some((s) => (typeof s === 'number' ? s === status : Math.floor(status / 100) === Number(s[0])));
}

function show(value: unknown, redact: Redact): string {
  if (value === undefined) return '(missing)';
  const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  return excerpt(text, 200, redact);
}

/** Parse a body as JSON without throwing; `got` says what the body was instead ("an empty body"). */
export function parseJson(body: string): { ok: true; value: unknown } | { ok: false; got: string } {
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch {
    const start = body.trimStart().slice(0, 1);
    const got = start === '<' ? 'HTML or XML' : body.trim() === '' ? 'an empty body' : 'text that is not JSON';
    return { ok: false, got };
  }
}

/** What a body that is not JSON was, with its beginning: `text that is not JSON: abc…`. */
export function notJson(got: string, body: string, redact: Redact, max = 120): string {
  return body.trim() === '' ? got : `${got}: ${excerpt(body, max, redact)}`;
}

/**
 * The answer's own words: the value at `path` (an expectation's `message_path`, e.g. a platform's
 * error message), redacted and short. Undefined when there is no path, or no text at it.
 */
export function answerMessage(doc: unknown, path: string | undefined, redact: Redact): string | undefined {
  if (path === undefined) return undefined;
  const found = lookup(doc, path);
  if (!found.found || found.value === null || typeof found.value === 'object') return undefined;
  const text = String(found.value).trim();
  return text === '' ? undefined : excerpt(text, 160, redact);
}

/** A reason led by the answer's own words, when there are some: what a person acts on first. */
export function withMessage(reason: string, message: string | undefined): string {
  return message === undefined ? reason : `the answer says ${JSON.stringify(message)}; ${reason}`;
}

/** Check JSON assertions against a parsed document. The values seen are shown redacted. */
export function checkJson(doc: unknown, assertions: JsonAssertion[], redact: Redact, label = 'json'): FailedExpectation[] {
  const failures: FailedExpectation[] = [];
  for (const a of assertions) {
    const found = lookup(doc, a.path);
    const actual = found.found ? found.value : undefined;
    const check = `${label} ${a.path}`;
    const fail = (expected: string) => failures.push({ check, expected, actual: show(actual, redact) });
    if (a.exists !== undefined && found.found !== a.exists) fail(a.exists ? 'present' : 'absent');
    if (a.equals !== undefined && !(found.found && looselyEqual(actual, a.equals))) fail(`== ${show(a.equals, redact)}`);
    if (a.not_equals !== undefined && found.found && looselyEqual(actual, a.not_equals)) fail(`!= ${show(a.not_equals, redact)}`);
    if (a.matches !== undefined && !(found.found && actual !== null && typeof actual !== 'object' && new RegExp(a.matches).test(String(actual)))) {
      fail(`matches /${a.matches}/`);
    }
    const num = typeof actual === 'number' ? actual : typeof actual === 'string' && actual.trim() !== '' ? Number(actual) : NaN;
    const cmp: [keyof JsonAssertion, string, (n: number, x: number) => boolean][] = [
      ['gt', '>', (n, x) => n > x],
      ['gte', '>=', (n, x) => n >= x],
      ['lt', '<', (n, x) => n < x],
      ['lte', '<=', (n, x) => n <= x],
    ];
    for (const [key, op, ok] of cmp) {
      const bound = a[key] as number | undefined;
      if (bound !== undefined && !(Number.isFinite(num) && ok(num, bound))) fail(`${op} ${bound}`);
    }
  }
  return failures;
}

/** Whether every assertion holds: for decisions only, so nothing seen is kept (or shown). */
export function jsonHolds(doc: unknown, assertions: JsonAssertion[]): boolean {
  return checkJson(doc, assertions, () => '').length === 0;
}

/** Numbers written as strings ("0") equal the number: APIs are not consistent about it. */
function looselyEqual(actual: unknown, expected: unknown): boolean {
  if (actual === expected) return true;
  if (typeof expected === 'number' && typeof actual === 'string') return actual.trim() !== '' && Number(actual) === expected;
  if (typeof expected === 'string' && typeof actual === 'number') return String(actual) === expected;
  return false;
}

export interface Observed {
  status?: number;
  body: string;
  durationMs: number;
}

export interface Expect {
  status?: StatusSpec[];
  json?: JsonAssertion[];
  body_regex?: string;
  body_not_regex?: string;
  max_duration?: number;
}

/**
 * Every unmet expectation of one answer, with what was seen redacted (the answer may repeat a secret).
 * A JSON assertion against a non-JSON body fails once, saying so.
 */
export function evaluate(expect: Expect, seen: Observed, redact: Redact): FailedExpectation[] {
  const failures: FailedExpectation[] = [];
  if (expect.status && seen.status !== undefined && !statusMatches(seen.status, expect.status)) {
    failures.push({ check: 'status', expected: expect.status.join(' or '), actual: String(seen.status) });
  }
  if (expect.json && expect.json.length > 0) {
    const doc = parseJson(seen.body);
    if (!doc.ok) failures.push({ check: 'json', expected: 'a JSON body', actual: notJson(doc.got, seen.body, redact) });
    else failures.push(...checkJson(doc.value, expect.json, redact));
  }
  if (expect.body_regex !== undefined && !new RegExp(expect.body_regex).test(seen.body)) {
    failures.push({ check: 'body', expected: `matches /${expect.body_regex}/`, actual: excerpt(seen.body, 200, redact) });
  }
  if (expect.body_not_regex !== undefined && new RegExp(expect.body_not_regex).test(seen.body)) {
    failures.push({ check: 'body', expected: `does not match /${expect.body_not_regex}/`, actual: excerpt(seen.body, 200, redact) });
  }
  if (expect.max_duration !== undefined && seen.durationMs > expect.max_duration) {
    failures.push({ check: 'duration', expected: `<= ${expect.max_duration}ms`, actual: `${Math.round(seen.durationMs)}ms` });
  }
  return failures;
}

export function describeFailures(failures: FailedExpectation[]): string {
  return failures.map((f) => `${f.check}: expected ${f.expected}, got ${f.actual}`).join('; ');
}
