// One secret-leak check for every test that produces output (logs, /metrics, pages, details, API,
// digest HTML and text, the SQLite file). Each secret goes where only one redaction layer can catch
// it, so removing any one layer makes some test fail:
//   urlPath      a URL path segment: no key names it, only the redactor's value search hides it;
//   queryValue   a query value under an innocent key (`note=`): redactUrl's key list does not hide it;
//   jsonBody     a JSON request body field;
//   header       a header whose name is not a credential (X-Trace): value search only;
//   loginForm    the platform login's password (the login form);
//   errorText    text quoted in an error (a config error, a failed expectation).
// A session token is learnt at run time; tests that know it pass it in `extra`.
import assert from 'node:assert/strict';

export const SECRETS = {
  urlPath: 'pathSecret7Qm2Zx9L',
  queryValue: 'querySecretK4n8Rt2W',
  jsonBody: 'bodySecretH3p7Vc1N',
  header: 'headerSecretB9d2Lk6F',
  loginForm: 'loginSecretT5g1Ms8Q',
  errorText: 'errorSecretW6c4Jy3P',
} as const;

export type SecretPlace = keyof typeof SECRETS;

/** The environment that carries them into a config (`${PATROL_SECRET_URL_PATH}` and so on). */
export const SECRET_ENV: Record<string, string> = {
  PATROL_SECRET_URL_PATH: SECRETS.urlPath,
  PATROL_SECRET_QUERY: SECRETS.queryValue,
  PATROL_SECRET_BODY: SECRETS.jsonBody,
  PATROL_SECRET_HEADER: SECRETS.header,
  PATROL_SECRET_LOGIN: SECRETS.loginForm,
  PATROL_SECRET_ERROR: SECRETS.errorText,
};

/**
 * The ways a secret can travel and still be read by someone: as is, URL-encoded, JSON-escaped,
 * base64 (with and without padding), and as hex (a binary column or a dump).
 */
export function leakForms(secret: string): string[] {
  const b64 = Buffer.from(secret).toString('base64');
  const all = [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1), b64, b64.replace(/=+$/, ''), Buffer.from(secret).toString('hex')];
  return [...new Set(all)];
}

/**
 * Fails naming where the output came from and which secret (by its place, never its value) leaked.
 * `extra`: more secrets of the test's own (an SMTP password, a session token).
 */
export function assertNoSecrets(text: string | Buffer, where: string, extra: Iterable<string> = [], only: Iterable<string> = Object.values(SECRETS)): void {
  const body = typeof text === 'string' ? text : text.toString('latin1');
  const named = new Map<string, string>();
  for (const [place, value] of Object.entries(SECRETS)) named.set(value, place);
  let i = 0;
  for (const s of extra) named.set(s, named.get(s) ?? `extra secret #${i++}`);
  const wanted = new Set([...only, ...extra]);
  for (const secret of wanted) {
    for (const form of leakForms(secret)) {
      assert.ok(!body.includes(form), `${where} contains the ${named.get(secret) ?? 'given'} secret${form === secret ? '' : ' (encoded)'}`);
    }
  }
}
