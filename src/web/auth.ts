// Who may do what on the HTTP endpoints. Every route states its access level where it is declared
// (src/web/server.ts), and the guard for that route decides from the level and the caller's
// credentials alone: a request that reaches a route has already been matched by the router, so no
// spelling of a path (case, trailing slash, percent-encoding) can pick another rule.
//
// Credentials come from two places (docs/security.md says how they combine):
// - the patrol config's `web.auth`: a bearer token (admin) and/or one basic-auth user (viewer);
// - the web config file's `basic_auth_users` (bcrypt hashes, exporter-toolkit format): viewers.
// When nothing is configured every endpoint is open. Credentials are compared in constant time and
// never echoed.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { WebConfig } from '../config/schema.js';

/**
 * What a route needs.
 * - public: anyone (liveness probes);
 * - scrape: a viewer, or anyone when `web.metrics_auth: none` (the telemetry path);
 * - viewer: any accepted credential (pages, read-only API);
 * - admin: the bearer token when one is configured, otherwise any accepted credential.
 */
export type Access = 'public' | 'scrape' | 'viewer' | 'admin';

/** Who the caller proved to be. */
export type Caller = 'anonymous' | 'viewer' | 'admin';

/** Checks a basic-auth user of the web config file (bcrypt, cached); absent when there is none. */
export interface BasicUsers {
  /** True when at least one user is configured. */
  readonly active: boolean;
  verify(username: string, password: string): Promise<boolean>;
}

export interface Credentials {
  web: WebConfig | null | undefined;
  users?: BasicUsers;
}

function sameSecret(given: string, expected: string): boolean {
  // Hashing first gives equal lengths, so timingSafeEqual applies and the length does not leak.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export type AuthOutcome = { ok: true; caller: Caller } | { ok: false; challenge: string };

const REALM = 'patrol_exporter';
const BEARER_CHALLENGE = `Bearer realm="${REALM}"`;
const BASIC_CHALLENGE = `Basic realm="${REALM}", charset="UTF-8"`;

/** Who the Authorization header proves the caller to be. */
export async function identify(creds: Credentials, authorization: string | undefined): Promise<Caller> {
  const token = creds.web?.auth.bearer_token ?? '';
  const basic = creds.web?.auth.basic;
  const header = authorization ?? '';
  const bearer = /^Bearer +(\S+)\s*$/i.exec(header);
  if (bearer) return token !== '' && sameSecret(bearer[1], token) ? 'admin' : 'anonymous';
  const basicMatch = /^Basic +([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!basicMatch) return 'anonymous';
  const decoded = Buffer.from(basicMatch[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'anonymous';
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  if (basic) {
    // Both compared every time, so a wrong user name takes as long as a wrong password.
    const userOk = sameSecret(user, basic.username);
    const passOk = sameSecret(password, basic.password);
    if (userOk && passOk) return 'viewer';
  }
  if (creds.users?.active && (await creds.users.verify(user, password))) return 'viewer';
  return 'anonymous';
}

/** The decision for one request to a route of the given access level. */
export async function authorize(creds: Credentials, access: Access, authorization: string | undefined): Promise<AuthOutcome> {
  const token = creds.web?.auth.bearer_token ?? '';
  const basicConfigured = !!creds.web?.auth.basic || !!creds.users?.active;
  // Nothing configured: every endpoint is open, and every caller may do everything.
  if (token === '' && !basicConfigured) return { ok: true, caller: 'admin' };
  if (access === 'public') return { ok: true, caller: 'anonymous' };
  if (access === 'scrape' && creds.web?.metrics_auth === 'none') return { ok: true, caller: 'anonymous' };

  const caller = await identify(creds, authorization);
  if (access === 'admin') {
    // With a token, only the token may act; without one, the basic users are the highest level there is.
    const ok = token !== '' ? caller === 'admin' : caller !== 'anonymous';
    return ok ? { ok: true, caller } : { ok: false, challenge: token !== '' ? BEARER_CHALLENGE : BASIC_CHALLENGE };
  }
  if (caller !== 'anonymous') return { ok: true, caller };
  // A browser shows a login box only for a Basic challenge: offer it when basic auth is configured.
  return { ok: false, challenge: basicConfigured ? BASIC_CHALLENGE : BEARER_CHALLENGE };
}

/**
 * The guard a route is declared with. Reads the credentials on every request, so a reload of the
 * patrol config or a change of the web config file changes them.
 */
export function guard(access: Access, creds: () => Credentials): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const outcome = await authorize(creds(), access, req.get('authorization'));
    if (outcome.ok) {
      next();
      return;
    }
    res.status(401).set('WWW-Authenticate', outcome.challenge).set('Cache-Control', 'no-store').type('text/plain').send('Unauthorized.\n');
  };
}
