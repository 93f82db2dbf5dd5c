// The registry of call kinds: each kind is one module (its request schema, what its answers and
// refusals can be held to, its load-time rules, `call` and `authCheck`), named here once. A config's
// key for a kind (http:, websocket:, script:) is its key here; CallKind is derived from this map,
// so every table over the kinds follows it.
import { http } from './http.js';
import { script } from './script.js';
import type { z } from 'zod';
import type { AnyKind, Kind } from './types.js';
import { websocket } from './websocket.js';

export const KINDS = {
  http,
  websocket,
  script,
};

export type CallKind = keyof typeof KINDS;
export const CALL_KINDS = Object.keys(KINDS) as CallKind[];

// Each kind sits under its own key: a kind registered under another key does not compile.
const _keysMatch: { [K in CallKind]: Kind<K, z.ZodType, z.ZodObject, z.ZodObject> } = KINDS;
void _keysMatch;

/** A kind by its key, as the loader and the runner use it. */
export function kindNamed(name: CallKind): AnyKind {
  return KINDS[name];
}

/** A call or an auth check names exactly one kind: which one (undefined: none). */
export function kindOf(c: object): CallKind | undefined {
  return CALL_KINDS.find((k) => (c as Record<string, unknown>)[k] !== undefined);
}
