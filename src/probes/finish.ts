// The end every call kind shares: extract values for later calls, then judge the call from its
// unmet expectations (redacted), so the three probes cannot drift apart on what "ok" means.
import { describeFailures, withMessage } from '../expect.js';
import { lookup } from '../jsonpath.js';
import type { CallResult, FailedExpectation } from '../types.js';
import type { ProbeContext } from './types.js';

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
