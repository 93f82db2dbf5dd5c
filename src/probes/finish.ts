// What every call kind shares: the result's skeleton, extracting values for later calls, and
// judging the call from its unmet expectations (redacted), so the probes cannot drift apart on
// what "ok" means.
import { answerMessage, describeFailures, parseJson, withMessage } from '../expect.js';
import { lookup } from '../jsonpath.js';
import type { Redact } from '../redact.js';
import type { CallResult, FailedExpectation } from '../types.js';
import type { ProbeContext } from './types.js';

/** A call's result before it is judged: not ok, no units, nothing extracted (finishCall decides). */
export function startResult(name: string, kind: string, fields: Partial<CallResult> = {}): CallResult {
  return { name, kind, ok: false, durationSeconds: 0, reason: '', failures: [], units: 0, extracted: {}, ...fields };
}

/**
 * Values named in `extract` from a parsed answer (`doc` null when the answer was not JSON). A value
 * missing, or not a scalar, is an unmet expectation: a later call would otherwise run without it.
 */
export function extractValues(doc: { value: unknown } | null, extract: Record<string, string>, where: string, failures: FailedExpectation[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, path] of Object.entries(extract)) {
    const found = doc ? lookup(doc.value, path) : { found: false as const };
    if (found.found && found.value !== null && typeof found.value !== 'object') out[name] = String(found.value);
    else failures.push({ check: `extract ${name}`, expected: `a value at ${path}${where}`, actual: doc ? (found.found ? 'an object or null' : '(missing)') : 'not JSON' });
  }
  return out;
}

/**
 * The extract step of an answer that is one body (HTTP, a script's stdout): parsed only when values
 * are to be extracted or the answer's message quoted. Returns the values (an unmet one is added to
 * `failures`) and the answer's own words (expect.message_path, redacted).
 */
export function readAnswer(body: string, call: { extract: Record<string, string>; expect: { message_path?: string } }, where: string, failures: FailedExpectation[], redact: Redact): { extracted: Record<string, string>; message?: string } {
  const extracting = Object.keys(call.extract).length > 0;
  const doc = extracting || call.expect.message_path !== undefined ? parseJson(body) : null;
  const extracted = extracting ? extractValues(doc?.ok ? doc : null, call.extract, where, failures) : {};
  return { extracted, message: doc?.ok ? answerMessage(doc.value, call.expect.message_path, redact) : undefined };
}

/**
 * Judge a call from its unmet expectations; a failed call is expected to add no units. `message` is
 * the answer's own words (expect.message_path, already redacted): they lead the reason of a failure.
 */
export function finishCall(result: CallResult, failures: FailedExpectation[], units: number, ctx: ProbeContext, message?: string): CallResult {
  result.failures = failures.map((f) => ({ ...f, actual: ctx.redactor.redact(f.actual) }));
  result.ok = failures.length === 0;
  result.reason = result.ok ? '' : withMessage(describeFailures(result.failures), message);
  result.units = result.ok ? units : 0;
  return result;
}
