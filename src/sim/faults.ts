// The simulator's switchable faults: what each one does, and the one parser that checks them (for
// the control API, the tests and the signed services alike). Its own module so that the HTTP
// platform and the signed services both import it, and neither imports the other for it.

export interface ServiceFaults {
  /** Every Nth successful call (per service, counting from when the fault was set) is not metered. */
  dropEvery?: number;
  /** Each successful call meters 2 units. */
  double?: boolean;
  /** Failed calls (5xx) are metered too. */
  meterFailed?: boolean;
  /** Every answer of the service is delayed by this long; if the client went away meanwhile, nothing is metered. */
  slowMs?: number;
  /** Answer 500 {code:10500,message:'internal error'}. */
  error5xx?: boolean;
  /** A wrong api key / unknown app id is answered as success (and metered to the app id in the request). */
  acceptBadCredentials?: boolean;
  /** This service's metering lag, instead of the platform's (a charge that lands after the client stopped waiting). */
  lagMs?: number;
  /** Usage reads of this service answer 500 (its counter cannot be read; other services' can). */
  usageDown?: boolean;
}

export interface GlobalFaults {
  /** POST /console/login answers 503. */
  loginDown?: boolean;
  /** Usage answers {code:0,data:{usedCount:'--'}} (non-numeric). */
  malformedUsage?: boolean;
}

export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Validates and copies; unknown keys are refused so a typo in a test or a curl fails loudly. */
export function parseServiceFaults(x: unknown): ServiceFaults {
  if (!isRecord(x)) throw new TypeError('faults must be an object');
  const out: ServiceFaults = {};
  for (const [k, v] of Object.entries(x)) {
    if (v === undefined) continue;
    switch (k) {
      case 'dropEvery':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
          throw new RangeError('faults.dropEvery must be an integer >= 1');
        }
        out.dropEvery = v;
        break;
      case 'slowMs':
      case 'lagMs':
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
          throw new RangeError(`faults.${k} must be a number >= 0`);
        }
        out[k] = v;
        break;
      case 'double':
      case 'meterFailed':
      case 'error5xx':
      case 'acceptBadCredentials':
      case 'usageDown':
        if (typeof v !== 'boolean') throw new TypeError(`faults.${k} must be a boolean`);
        out[k] = v;
        break;
      default:
        throw new TypeError(`unknown fault: ${k}`);
    }
  }
  return out;
}

export function parseGlobalFaults(x: unknown): GlobalFaults {
  if (!isRecord(x)) throw new TypeError('global faults must be an object');
  const out: GlobalFaults = {};
  for (const [k, v] of Object.entries(x)) {
    if (v === undefined) continue;
    if (k !== 'loginDown' && k !== 'malformedUsage') throw new TypeError(`unknown global fault: ${k}`);
    if (typeof v !== 'boolean') throw new TypeError(`global.${k} must be a boolean`);
    out[k] = v;
  }
  return out;
}

export function checkLag(ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new RangeError('lagMs must be a number >= 0');
  }
  return ms;
}
