// What a call kind is: one module (src/probes/KIND.ts) that declares the request it takes, the
// conditions its answers and refusals can be held to, its load-time rules, and how its calls and
// auth checks are made and judged. The registry (registry.ts) lists the kinds once.
// Probes never throw: a failure is a result with a reason.
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { SignConfig } from '../config/parts.js';
import type { HttpClient } from '../http/client.js';
import type { RequestDefaults } from '../http/build.js';
import type { Redactor } from '../redact.js';
import type { TemplateContext } from '../template.js';
import type { AuthCheckResult, CallResult } from '../types.js';
import type { SessionCredentials } from '../signers.js';

export interface ProbeContext {
  /** Template values: service_id, app_id, params.X, vars.X, session.X, extracted.X. */
  vars: TemplateContext;
  /** The round's deadline (and shutdown). Each request adds its own timeout. */
  signal: AbortSignal;
  http: HttpClient;
  redactor: Redactor;
  defaults: RequestDefaults;
  logger: Logger;
  /** The platform's session credentials, for calls signed with `type: session` (logs in when needed). */
  session?: () => Promise<SessionCredentials | string>;
  /**
   * The W3C trace context of this call's span (docs/tracing.md): a `traceparent` header on its
   * requests and WebSocket handshake, TRACEPARENT in a script's environment. Added after signing.
   */
  traceparent?: string;
}

/** A billed call of kind K: its request under the key K, and the conditions of that kind only. */
export type KindCall<K extends string, Request, Expect> = {
  name: string;
  sign?: SignConfig;
  expect: Expect;
  extract: Record<string, string>;
  units: number;
} & { [P in K]: Request };

/** An auth check of kind K: its request under the key K, and what counts as its refusal. */
export type KindCheck<K extends string, Request, Rejection> = {
  name: string;
  sign?: SignConfig;
  app_id?: string;
  rejected_when: Rejection;
} & { [P in K]: Request };

export type Steps = (string | number)[];
export type Add = (steps: Steps, message: string) => void;

/** A kind of call. `K` is its key in a call or auth check (`http:`), and its name in results. */
export interface Kind<K extends string, Req extends z.ZodType, Exp extends z.ZodObject, Rej extends z.ZodObject> {
  /** The request, under the key K of a call and of an auth check. */
  request: Req;
  /** The keys of `expect` its calls take (each is refused on a call of another kind). */
  expect: Exp;
  /** The keys of `rejected_when` its auth checks take. */
  rejectedWhen: Rej;
  /** Why a key another kind takes is not for this one (absent: "only KIND calls have KEY"). */
  notForThisKind?: { expect?: Record<string, string>; rejected_when?: Record<string, string> };
  /** Why a call of this kind is never signed (absent: it may be). */
  unsigned?: string;
  /** What an auth check of this kind lacks to tell a refusal (null: nothing). */
  rejectionLacks?(r: z.output<Rej>): string | null;
  /** Template names this kind fills besides the service's (a WebSocket stream's {{chunk}}). */
  templateNames?: string[];
  /**
   * Relative paths of its request made absolute from the config file's folder (the probes never
   * depend on the process's working directory), and checked, so check-config finds a missing one.
   * `steps` is the path of the request itself.
   */
  resolveFiles?(request: z.output<Req>, steps: Steps, baseDir: string, add: Add): void;
  call(call: KindCall<K, z.output<Req>, z.output<Exp>>, ctx: ProbeContext): Promise<CallResult>;
  authCheck(check: KindCheck<K, z.output<Req>, z.output<Rej>>, ctx: ProbeContext): Promise<AuthCheckResult>;
}

/**
 * Any kind, as the registry's users see it: the loader asks it for its keys and rules, the runner
 * hands it a call. Its methods take what the kind's own take (TypeScript checks method parameters
 * both ways, so every kind fits); kindOf has matched the call to the kind by the very key its type
 * is keyed by.
 */
export interface AnyKind {
  request: z.ZodType;
  expect: z.ZodObject;
  rejectedWhen: z.ZodObject;
  notForThisKind?: { expect?: Record<string, string>; rejected_when?: Record<string, string> };
  unsigned?: string;
  rejectionLacks?(r: unknown): string | null;
  templateNames?: string[];
  resolveFiles?(request: unknown, steps: Steps, baseDir: string, add: Add): void;
  call(call: unknown, ctx: ProbeContext): Promise<CallResult>;
  authCheck(check: unknown, ctx: ProbeContext): Promise<AuthCheckResult>;
}

/** Declares a kind, checking it against Kind with its own key and schemas. */
export function defineKind<K extends string, Req extends z.ZodType, Exp extends z.ZodObject, Rej extends z.ZodObject>(_key: K, kind: Kind<K, Req, Exp, Rej>): Kind<K, Req, Exp, Rej> {
  return kind;
}
