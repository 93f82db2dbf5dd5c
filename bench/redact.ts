// The cost of redact() on a 2 KB answer after many logins: every session token kept for good (what
// the platform session did before: redactor.add per login) against the current and previous token
// only (the platform session now, logging in again and again against the simulator).
//   npx tsx bench/redact.ts [--logins=8640]   (8640: 30 days of 5-minute sessions)
import pino from 'pino';
import { platformSchema } from '../src/config/schema.js';
import { HttpClient } from '../src/http/client.js';
import { PlatformSession } from '../src/platform/session.js';
import { Redactor } from '../src/redact.js';
import { startSimulator } from '../src/sim/platform.js';
import { table } from './common.js';

const arg = (name: string, fallback: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const logins = Number(arg('logins', '8640'));
const CONFIG_SECRETS = ['demo-password', 'demo-api-key-0001', 'demo-api-secret-0001'];
const text = JSON.stringify({ code: 0, message: 'success', data: { items: Array.from({ length: 40 }, (_, i) => ({ id: i, name: `item-${i}`, note: 'lorem ipsum dolor' })) } }).slice(0, 2048);

/** Mean microseconds per redact(text), over about half a second. */
function cost(r: Redactor): number {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < 500 && n < 1_000_000) {
    r.redact(text);
    n++;
  }
  return ((performance.now() - start) * 1000) / n;
}

const sim = await startSimulator({ lagMs: 0 });
const http = new HttpClient();
const tokens: string[] = [];
const now = new Redactor(CONFIG_SECRETS);
try {
  // max_age 1ms: every credentials() logs in again, as a long run of expiring sessions would.
  const platform = platformSchema.parse({
    login: { http: { method: 'POST', url: `${sim.url}/console/login`, json: { username: 'demo', password: 'demo-password' } }, extract: { sso: 'data.ssoSessionId' } },
    session: { headers: { Cookie: 'ssoSessionId={{session.sso}}' }, max_age: '1ms' },
    counter: { http: { url: `${sim.url}/console/usage` }, value: 'data.usedCount' },
  });
  const session = new PlatformSession('p', platform, { http, redactor: now, defaults: { timeoutMs: 5000, maxBodyBytes: 1 << 20 }, logger: pino({ level: 'silent' }), vars: {} });
  for (let i = 0; i < logins; i++) {
    await new Promise((r) => setTimeout(r, 1));
    const c = await session.credentials({}, new AbortController().signal);
    if (typeof c === 'string') throw new Error(c);
    tokens.push(c.headers.Cookie.slice('ssoSessionId='.length));
  }
} finally {
  await http.close();
  await sim.close();
}
const before = new Redactor(CONFIG_SECRETS);
for (const t of tokens) before.add(t);

table(`redact() of ${text.length} characters after ${tokens.length} logins (${new Set(tokens).size} distinct tokens)`, ['redactor', 'strings searched', 'µs per redact()'], [
  ['every token kept (before)', before.size, cost(before).toFixed(2)],
  ['current + previous token (now)', now.size, cost(now).toFixed(2)],
]);
