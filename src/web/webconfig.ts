// `--web.config.file`: the web configuration file of Prometheus's exporter-toolkit, so one file (and
// `promtool check web-config`) serves every exporter of a site. Supported:
//   tls_server_config: cert_file, key_file, client_auth_type, client_ca_file, min_version,
//                      max_version, curve_preferences, client_allowed_sans
//   http_server_config: headers (the five the toolkit allows), http2 (accepted; HTTP/1.1 is served)
//   basic_auth_users: user -> bcrypt hash
// Anything else is refused by name (cipher_suites among them: Go's suite names do not map onto
// OpenSSL's one to one, and a silently different list would be worse than a refusal).
// Relative file names are relative to the web config file, as in the toolkit.
//
// The file and the files it names are looked at (stat) on every new connection and request; when
// one changed it is read again. A bad new file keeps the previous one and is logged once.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import type { BasicUsers } from './auth.js';

export type ClientAuthType = 'NoClientCert' | 'RequestClientCert' | 'RequireAnyClientCert' | 'VerifyClientCertIfGiven' | 'RequireAndVerifyClientCert';
const CLIENT_AUTH_TYPES: readonly ClientAuthType[] = ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'];

const TLS_VERSIONS: Record<string, tls.SecureVersion> = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' };
// The toolkit's (Go's) curve names, in OpenSSL's spelling.
const CURVES: Record<string, string> = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' };
// The response headers the toolkit lets a file set, with the values it allows (null: any).
const HEADERS: Record<string, readonly string[] | null> = {
  'Strict-Transport-Security': null,
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': null,
  'Content-Security-Policy': null,
};
const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

export interface TlsSettings {
  clientAuth: ClientAuthType;
  /** What the TLS server is given (certificate, key, CA, versions, curves). */
  context: tls.SecureContextOptions;
  /** When set, a client certificate must name one of these (DNS, IP, e-mail or URI SAN, or the CN). */
  clientAllowedSans: string[];
}

export interface WebFileConfig {
  tls: TlsSettings | null;
  /** User name -> bcrypt hash. */
  users: Map<string, string>;
  headers: Record<string, string>;
  /** Files the settings came from (besides the web config file), watched for changes. */
  files: string[];
}

export type WebConfigResult = { ok: true; config: WebFileConfig } | { ok: false; error: string };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and checks the file's text; reads the files it names (so a broken certificate is refused here). */
export function parseWebConfig(text: string, file: string): WebConfigResult {
  const problems: string[] = [];
  const dir = path.dirname(path.resolve(file));
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 }) ?? {};
  } catch (err) {
    return { ok: false, error: `${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}` };
  }
  if (!isObj(doc)) return { ok: false, error: `${file}: expected a mapping at the top level` };
  const unknown = (o: Obj, where: string, known: readonly string[], unsupported: Record<string, string> = {}) => {
    for (const k of Object.keys(o)) {
      if (k in unsupported) problems.push(`${where}${k}: not supported: ${unsupported[k]}`);
      else if (!known.includes(k)) problems.push(`${where}${k}: unknown key (known: ${known.join(', ')})`);
    }
  };
  unknown(doc, '', ['tls_server_config', 'http_server_config', 'basic_auth_users'], { rate_limit: 'put a rate limit in front of the exporter (a reverse proxy)' });

  const files: string[] = [];
  let tlsSettings: TlsSettings | null = null;
  const t = doc.tls_server_config;
  if (t !== undefined && t !== null) {
    if (!isObj(t)) problems.push('tls_server_config: expected a mapping');
    else {
      unknown(t, 'tls_server_config.', ['cert_file', 'key_file', 'client_auth_type', 'client_ca_file', 'min_version', 'max_version', 'curve_preferences', 'client_allowed_sans'], {
        cipher_suites: "Go's cipher suite names do not map onto OpenSSL's; the defaults of Node's OpenSSL are used",
        prefer_server_cipher_order: 'the server order is always preferred',
        cert: 'give the certificate as cert_file',
        key: 'give the key as key_file',
      });
      const str = (k: string): string | undefined => {
        const v = t[k];
        if (v === undefined || v === null || v === '') return undefined;
        if (typeof v !== 'string') problems.push(`tls_server_config.${k}: expected a string`);
        return typeof v === 'string' ? v : undefined;
      };
      const read = (k: string): Buffer | undefined => {
        const name = str(k);
        if (name === undefined) return undefined;
        const full = path.resolve(dir, name);
        files.push(full);
        try {
          return readFileSync(full);
        } catch (err) {
          problems.push(`tls_server_config.${k}: cannot read ${full}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
          return undefined;
        }
      };
      const cert = read('cert_file');
      const key = read('key_file');
      if (str('cert_file') === undefined) problems.push('tls_server_config.cert_file: required when tls_server_config is given');
      if (str('key_file') === undefined) problems.push('tls_server_config.key_file: required when tls_server_config is given');
      const clientAuth = (str('client_auth_type') ?? 'NoClientCert') as ClientAuthType;
      if (!CLIENT_AUTH_TYPES.includes(clientAuth)) problems.push(`tls_server_config.client_auth_type: expected one of ${CLIENT_AUTH_TYPES.join(', ')}, got "${clientAuth}"`);
      const ca = read('client_ca_file');
      if (clientAuth.includes('Verify') && str('client_ca_file') === undefined) problems.push(`tls_server_config.client_ca_file: required with client_auth_type ${clientAuth}`);
      const version = (k: string): tls.SecureVersion | undefined => {
        const v = str(k);
        if (v === undefined) return undefined;
        if (!(v in TLS_VERSIONS)) problems.push(`tls_server_config.${k}: expected one of ${Object.keys(TLS_VERSIONS).join(', ')}, got "${v}"`);
        return TLS_VERSIONS[v];
      };
      // TLS 1.2 at least unless the file says otherwise, as in the toolkit.
      const minVersion = version('min_version') ?? 'TLSv1.2';
      const maxVersion = version('max_version');
      const list = (k: string): string[] => {
        const v = t[k];
        if (v === undefined || v === null) return [];
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
          problems.push(`tls_server_config.${k}: expected a list of strings`);
          return [];
        }
        return v as string[];
      };
      const curves = list('curve_preferences');
      for (const c of curves) if (!(c in CURVES)) problems.push(`tls_server_config.curve_preferences: unknown curve "${c}" (known: ${Object.keys(CURVES).join(', ')})`);
      const context: tls.SecureContextOptions = { cert, key, minVersion, ...(maxVersion ? { maxVersion } : {}), ...(ca ? { ca } : {}) };
      if (curves.length > 0) context.ecdhCurve = curves.map((c) => CURVES[c] ?? c).join(':');
      if (problems.length === 0) {
        try {
          // Builds the context once to refuse a key that does not match its certificate, or a garbled PEM, now.
          tls.createSecureContext(context);
        } catch (err) {
          problems.push(`tls_server_config: the certificate, key or CA cannot be used: ${(err as Error).message}`);
        }
      }
      tlsSettings = { clientAuth, context, clientAllowedSans: list('client_allowed_sans') };
    }
  }

  const headers: Record<string, string> = {};
  const h = doc.http_server_config;
  if (h !== undefined && h !== null) {
    if (!isObj(h)) problems.push('http_server_config: expected a mapping');
    else {
      unknown(h, 'http_server_config.', ['headers', 'http2']);
      if (h.http2 !== undefined && typeof h.http2 !== 'boolean') problems.push('http_server_config.http2: expected true or false');
      if (h.headers !== undefined && h.headers !== null) {
        if (!isObj(h.headers)) problems.push('http_server_config.headers: expected a mapping of header names to values');
        else {
          for (const [name, value] of Object.entries(h.headers)) {
            const allowed = HEADERS[name];
            if (allowed === undefined) problems.push(`http_server_config.headers.${name}: this header cannot be set (allowed: ${Object.keys(HEADERS).join(', ')})`);
            else if (typeof value !== 'string' || /[\r\n]/.test(value)) problems.push(`http_server_config.headers.${name}: expected a one-line string`);
            else if (allowed && !allowed.includes(value.toLowerCase())) problems.push(`http_server_config.headers.${name}: expected one of ${allowed.join(', ')}, got "${value}"`);
            else headers[name] = value;
          }
        }
      }
    }
  }

  const users = new Map<string, string>();
  const u = doc.basic_auth_users;
  if (u !== undefined && u !== null) {
    if (!isObj(u)) problems.push('basic_auth_users: expected a mapping of user names to bcrypt hashes');
    else {
      for (const [name, hash] of Object.entries(u)) {
        // The hash is not shown: it is not the password, but nothing is gained by printing it.
        if (typeof hash !== 'string' || !BCRYPT.test(hash)) problems.push(`basic_auth_users.${name}: expected a bcrypt hash ($2y$..., e.g. from htpasswd -nBC 10 "" | tr -d ':\\n')`);
        else if (name.includes(':')) problems.push(`basic_auth_users.${name}: a user name cannot contain ":"`);
        else users.set(name, hash);
      }
    }
  }

  if (problems.length > 0) return { ok: false, error: `${file}: ${problems.length} problem(s)\n${problems.map((p) => `  ${p}`).join('\n')}` };
  return { ok: true, config: { tls: tlsSettings, users, headers, files } };
}

/** What identifies one version of a file without reading it. */
function fingerprint(files: string[]): string {
  return files
    .map((f) => {
      try {
        const s = statSync(f);
        return `${f}:${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return `${f}:missing`;
      }
    })
    .join('|');
}

/** Verified (user, password, hash) outcomes kept, so a scraper does not cost a bcrypt per scrape. */
const CACHE_LIMIT = 1024;

/**
 * The web config file, kept current. `refresh()` is cheap (a few stat calls) and is called for
 * every new connection and request.
 */
export class WebConfigFile implements BasicUsers {
  private config: WebFileConfig;
  private seen: string;
  /** The fingerprint of a bad version already logged, so it is logged once, not per request. */
  private refused = '';
  private readonly cache = new Map<string, boolean>();
  /** Compared against for unknown users, so an unknown name costs what a wrong password costs (made when first needed). */
  private dummyHash: string | null = null;
  private readonly listeners: ((c: WebFileConfig) => void)[] = [];
  /** bcrypt comparisons made (the cache keeps this far below the number of requests). */
  bcryptRuns = 0;

  private constructor(
    readonly file: string,
    private readonly logger: Logger,
    config: WebFileConfig,
    seen: string,
  ) {
    this.config = config;
    this.seen = seen;
  }

  /** Reads the file at start: a bad file is an error (the exporter does not start on it). */
  static load(file: string, logger: Logger): { ok: true; web: WebConfigFile } | { ok: false; error: string } {
    const full = path.resolve(file);
    let text: string;
    try {
      text = readFileSync(full, 'utf8');
    } catch (err) {
      return { ok: false, error: `--web.config.file: cannot read ${full}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
    const parsed = parseWebConfig(text, file);
    if (!parsed.ok) return parsed;
    return { ok: true, web: new WebConfigFile(full, logger, parsed.config, fingerprint([full, ...parsed.config.files])) };
  }

  get current(): WebFileConfig {
    return this.config;
  }

  get active(): boolean {
    return this.config.users.size > 0;
  }

  /** Called with the new settings after each successful re-read. */
  onChange(fn: (c: WebFileConfig) => void): void {
    this.listeners.push(fn);
  }

  /** Re-reads the file when it or a file it names changed; true when new settings were taken. */
  refresh(): boolean {
    const now = fingerprint([this.file, ...this.config.files]);
    if (now === this.seen || now === this.refused) return false;
    let parsed: WebConfigResult;
    try {
      parsed = parseWebConfig(readFileSync(this.file, 'utf8'), this.file);
    } catch (err) {
      parsed = { ok: false, error: `cannot read ${this.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
    if (!parsed.ok) {
      this.refused = now;
      this.logger.error({ file: this.file, error: parsed.error }, 'the web config file changed but cannot be used; keeping the previous one');
      return false;
    }
    // The new version may name other files: watch those from now on.
    this.seen = fingerprint([this.file, ...parsed.config.files]);
    this.refused = '';
    this.config = parsed.config;
    this.cache.clear();
    this.logger.info({ file: this.file, tls: parsed.config.tls !== null, users: parsed.config.users.size }, 'web config file re-read');
    for (const fn of this.listeners) fn(parsed.config);
    return true;
  }

  async verify(username: string, password: string): Promise<boolean> {
    const hash = this.config.users.get(username);
    // The key holds a digest of the password, never the password itself.
    const key = createHash('sha256').update(`${username}\0${password}\0${hash ?? ''}`).digest('base64');
    const known = this.cache.get(key);
    if (known !== undefined) return known;
    this.bcryptRuns++;
    const ok = await bcrypt.compare(password, hash ?? (this.dummyHash ??= await bcrypt.hash('patrol-no-such-user', 10)));
    const result = ok && hash !== undefined;
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(key, result);
    return result;
  }
}
