// Protection of the HTTP endpoints (web.auth), in the manner of Prometheus's web config: a bearer
// token and/or basic auth for every endpoint; /metrics can be left open for scrapers
// (web.metrics_auth: none); the admin actions (POST /api/rounds, POST /-/reload) always need the
// bearer token when one is set; GET /-/healthy stays open so liveness probes need no credential.
// Credentials are compared in constant time and never echoed.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { WebConfig } from '../config/schema.js';

/** What an endpoint needs. */
export type Access = 'open' | 'metrics' | 'read' | 'admin';

export function accessFor(method: string, path: string): Access {
  const m = method.toUpperCase();
  if ((m === 'GET' || m === 'HEAD') && path === '/-/healthy') return 'open';
  if (path === '/metrics') return 'metrics';
  if (m === 'POST' && (path === '/api/rounds' || path === '/-/reload')) return 'admin';
  return 'read';
}

function sameSecret(given: string, expected: string): boolean {
  // Hashing first gives equal lengths, so timingSafeEqual applies and the length does not leak.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export type AuthOutcome = { ok: true } | { ok: false; challenge: string };

const REALM = 'patrol_exporter';

/** The decision for one request. `auth` absent or empty: everything is open. */
export function authorize(web: WebConfig | null | undefined, access: Access, authorization: string | undefined): AuthOutcome {
  const token = web?.auth.bearer_token ?? '';
  const basic = web?.auth.basic;
  if (token === '' && !basic) return { ok: true };
  if (access === 'open') return { ok: true };
  if (access === 'metrics' && web?.metrics_auth === 'none') return { ok: true };

  const header = authorization ?? '';
  const bearer = /^Bearer +(\S+)\s*$/i.exec(header);
  const bearerOk = token !== '' && bearer !== null && sameSecret(bearer[1], token);
  let basicOk = false;
  const basicMatch = /^Basic +([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (basic && basicMatch) {
    const decoded = Buffer.from(basicMatch[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon >= 0) {
      // Both compared every time, so a wrong user name takes as long as a wrong password.
      const userOk = sameSecret(decoded.slice(0, colon), basic.username);
      const passOk = sameSecret(decoded.slice(colon + 1), basic.password);
      basicOk = userOk && passOk;
    }
  }

  const bearerChallenge = `Bearer realm="${REALM}"`;
  const basicChallenge = `Basic realm="${REALM}", charset="UTF-8"`;
  if (access === 'admin' && token !== '') return bearerOk ? { ok: true } : { ok: false, challenge: bearerChallenge };
  if (bearerOk || basicOk) return { ok: true };
  // A browser shows a login box only for a Basic challenge: offer it when basic auth is configured.
  return { ok: false, challenge: basic ? basicChallenge : bearerChallenge };
}

/** Express middleware; reads the config on every request, so a reload changes the credentials. */
export function requireAuth(webConfig: () => WebConfig | null | undefined) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const outcome = authorize(webConfig(), accessFor(req.method, req.path), req.get('authorization'));
    if (outcome.ok) {
      next();
      return;
    }
    res.status(401).set('WWW-Authenticate', outcome.challenge).set('Cache-Control', 'no-store').type('text/plain').send('Unauthorized.\n');
  };
}
