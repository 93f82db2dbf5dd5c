// Loading a config file: YAML -> ${ENV} substitution -> schema -> checks that need more than a type.
// Every problem is collected and reported at once, each with its path (and line) in the file.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { validate as validateCron } from 'node-cron';
import { CALL_KINDS, configSchema, type Config, type Expectation, type JsonAssertion } from './schema.js';
import { parsePath } from '../jsonpath.js';
import { collectTemplates, templateRefs } from '../template.js';

export interface ConfigProblem {
  path: string;
  message: string;
  line?: number;
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.path || '(top level)'}${p.line ? ` (line ${p.line})` : ''}: ${p.message}`;
}

export interface LoadedConfig {
  config: Config;
  /** Every value that came from the environment or a file: redacted wherever results are shown. */
  secrets: string[];
  source: string;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Override `vars` (the demo and the tests point the config at a simulator started on port 0). */
  vars?: Record<string, string>;
  /** Where `${file:relative}` paths start; defaults to the config file's folder. */
  baseDir?: string;
}

export function formatPath(steps: readonly PropertyKey[]): string {
  let out = '';
  for (const s of steps) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += out === '' ? String(s) : `.${String(s)}`;
  }
  return out;
}

const ENV_REF = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*|file:[^}]+)(?::-([^}]*))?\}/g;

/** Replace ${VAR}, ${VAR:-default} and ${file:PATH} inside every string of the tree. `$$` is a literal `$`. */
function substitute(value: unknown, steps: (string | number)[], opts: Required<Pick<LoadOptions, 'env' | 'baseDir'>>, secrets: Set<string>, problems: ConfigProblem[]): unknown {
  if (typeof value === 'string') {
    if (!value.includes('$')) return value;
    return value.replace(ENV_REF, (whole, ref: string | undefined, fallback: string | undefined) => {
      if (whole === '$$') return '$';
      if (ref!.startsWith('file:')) {
        const file = path.resolve(opts.baseDir, ref!.slice(5));
        try {
          const text = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
          secrets.add(text);
          return text;
        } catch (err) {
          problems.push({ path: formatPath(steps), message: `cannot read secret file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
          return '';
        }
      }
      const v = opts.env[ref!];
      if (v !== undefined && v !== '') {
        secrets.add(v);
        return v;
      }
      if (fallback !== undefined) return fallback;
      problems.push({ path: formatPath(steps), message: `environment variable ${ref} is not set (write \${${ref}:-default} to give a default)` });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, [...steps, i], opts, secrets, problems));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substitute(v, [...steps, k], opts, secrets, problems);
    return out;
  }
  return value;
}

/** Which kind of call a (validated) call or auth check is. */
function kindOf(c: Partial<Record<(typeof CALL_KINDS)[number], unknown>>): (typeof CALL_KINDS)[number] {
  return CALL_KINDS.find((k) => c[k] !== undefined)!;
}

function isValidTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Checks a type cannot express. Adds to `problems`. */
function checkSemantics(config: Config, add: (steps: (string | number)[], message: string) => void): void {
  if (!validateCron(config.global.schedule)) add(['global', 'schedule'], `invalid cron expression "${config.global.schedule}" (5 fields, or 6 with seconds first)`);
  if (!isValidTimezone(config.global.timezone)) add(['global', 'timezone'], `unknown timezone "${config.global.timezone}" (use an IANA name such as Asia/Shanghai)`);
  if (config.global.settle.poll_interval <= 0) add(['global', 'settle', 'poll_interval'], 'must be greater than 0');

  const checkRegex = (steps: (string | number)[], source: string | undefined) => {
    if (source === undefined) return;
    try {
      new RegExp(source);
    } catch (err) {
      add(steps, `invalid regular expression: ${(err as Error).message}`);
    }
  };
  const checkJsonPath = (steps: (string | number)[], p: string) => {
    const parsed = parsePath(p);
    if (typeof parsed === 'string') add(steps, parsed);
  };
  const checkAssertions = (steps: (string | number)[], list: JsonAssertion[]) =>
    list.forEach((a, i) => {
      checkJsonPath([...steps, i, 'path'], a.path);
      checkRegex([...steps, i, 'matches'], a.matches);
    });
  const checkExpect = (steps: (string | number)[], e: Pick<Expectation, 'json' | 'body_regex'> & { body_not_regex?: string }) => {
    checkAssertions([...steps, 'json'], e.json);
    checkRegex([...steps, 'body_regex'], e.body_regex);
    checkRegex([...steps, 'body_not_regex'], e.body_not_regex);
  };
  const checkTemplates = (steps: (string | number)[], value: unknown, allowed: (name: string) => string | null) => {
    for (const t of collectTemplates(value)) {
      for (const ref of templateRefs(t.template)) {
        const why = allowed(ref);
        if (why) add([...steps, ...t.path], why);
      }
    }
  };
  const checkUrl = (steps: (string | number)[], url: string) => {
    if (url.includes('{{')) return;
    try {
      const u = new URL(url);
      if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) add(steps, `unsupported URL scheme ${u.protocol}`);
    } catch {
      add(steps, `invalid URL "${url}"`);
    }
  };

  const platformNames = Object.keys(config.platforms);
  if (platformNames.length === 0) add(['platforms'], 'configure at least one platform (its login and counter)');
  for (const [name, p] of Object.entries(config.platforms)) {
    const base = ['platforms', name];
    if (!isValidTimezone(p.timezone)) add([...base, 'timezone'], `unknown timezone "${p.timezone}"`);
    checkUrl([...base, 'login', 'http', 'url'], p.login.http.url);
    checkUrl([...base, 'counter', 'http', 'url'], p.counter.http.url);
    checkExpect([...base, 'login', 'expect'], p.login.expect);
    checkExpect([...base, 'counter', 'expect'], p.counter.expect);
    checkExpect([...base, 'not_logged_in'], p.not_logged_in);
    checkJsonPath([...base, 'counter', 'value'], p.counter.value);
    for (const [k, v] of Object.entries(p.login.extract)) {
      if (!v.startsWith('cookie:')) checkJsonPath([...base, 'login', 'extract', k], v);
    }
    const varNames = new Set(Object.keys(config.vars));
    const sessionNames = new Set(Object.keys(p.login.extract));
    const loginScope = (ref: string) => (ref.startsWith('vars.') && varNames.has(ref.slice(5)) ? null : `unknown template variable {{${ref}}}: the login request can use vars.X`);
    checkTemplates([...base, 'login', 'http'], p.login.http, loginScope);
    const sessionScope = (ref: string) => {
      if (ref.startsWith('vars.') && varNames.has(ref.slice(5))) return null;
      if (ref.startsWith('session.') && sessionNames.has(ref.slice(8))) return null;
      return `unknown template variable {{${ref}}}: here you can use vars.X and session.X (${[...sessionNames].join(', ')})`;
    };
    checkTemplates([...base, 'session'], p.session, sessionScope);
  }

  const ids = new Map<string, number>();
  config.services.forEach((s, si) => {
    const base: (string | number)[] = ['services', si];
    if (ids.has(s.id)) add([...base, 'id'], `duplicate service id "${s.id}" (also services[${ids.get(s.id)}])`);
    else ids.set(s.id, si);

    if (s.platform !== undefined && !config.platforms[s.platform]) add([...base, 'platform'], `unknown platform "${s.platform}" (configured: ${platformNames.join(', ') || 'none'})`);
    if (s.platform === undefined && platformNames.length > 1) add([...base, 'platform'], `required when more than one platform is configured (${platformNames.join(', ')})`);
    const platform = config.platforms[s.platform ?? platformNames[0]];

    const scope = (extracted: Set<string>) => (ref: string): string | null => {
      const [head, ...rest] = ref.split('.');
      const tail = rest.join('.');
      if (['service_id', 'app_id', 'business_id', 'name'].includes(ref)) return null;
      if (head === 'vars' && tail in config.vars) return null;
      if (head === 'params' && tail in s.params) return null;
      if (head === 'session' && platform && tail in platform.login.extract) return null;
      if (head === 'extracted' && extracted.has(tail)) return null;
      return `unknown template variable {{${ref}}}: use service_id, app_id, business_id, name, vars.X, params.X, session.X or extracted.X (from an earlier call)`;
    };
    if (platform) checkTemplates(['platforms', s.platform ?? platformNames[0], 'counter', 'http'], platform.counter.http, scope(new Set()));

    const callNames = new Set<string>();
    const extracted = new Set<string>();
    s.calls.forEach((c, ci) => {
      const cb = [...base, 'calls', ci];
      if (callNames.has(c.name)) add([...cb, 'name'], `duplicate call name "${c.name}"`);
      callNames.add(c.name);
      const kind = kindOf(c);
      const spec = c[kind] as { url?: unknown };
      if (typeof spec.url === 'string') checkUrl([...cb, kind, 'url'], spec.url);
      checkExpect([...cb, 'expect'], c.expect);
      checkTemplates([...cb, kind], spec, scope(extracted));
      for (const [k, v] of Object.entries(c.extract)) {
        checkJsonPath([...cb, 'extract', k], v);
      }
      for (const k of Object.keys(c.extract)) extracted.add(k);
    });
    const checkNames = new Set<string>();
    s.auth_checks.forEach((a, ai) => {
      const ab = [...base, 'auth_checks', ai];
      if (checkNames.has(a.name)) add([...ab, 'name'], `duplicate auth check name "${a.name}"`);
      checkNames.add(a.name);
      const kind = kindOf(a);
      const spec = a[kind] as { url?: unknown };
      if (typeof spec.url === 'string') checkUrl([...ab, kind, 'url'], spec.url);
      checkExpect([...ab, 'rejected_when'], a.rejected_when);
      checkTemplates([...ab, kind], spec, scope(extracted));
    });
  });
}

/** Parse and validate config text. Throws ConfigError listing every problem. */
export function parseConfig(text: string, source = 'config', options: LoadOptions = {}): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lineOf = (steps: (string | number)[]): number | undefined => {
    for (let n = steps.length; n >= 0; n--) {
      const node = doc.getIn(steps.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => ({ path: '', message: `YAML: ${e.message.split('\n')[0]}`, line: e.linePos?.[0]?.line })),
    );
  }
  const raw = doc.toJS() as unknown;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(source, [{ path: '', message: 'the file must be a YAML mapping with platforms and services' }]);
  }

  const problems: ConfigProblem[] = [];
  const secrets = new Set<string>();
  const env = options.env ?? process.env;
  const baseDir = options.baseDir ?? process.cwd();
  const substituted = substitute(raw, [], { env, baseDir }, secrets, problems) as Record<string, unknown>;
  if (options.vars) substituted.vars = { ...((substituted.vars as Record<string, string>) ?? {}), ...options.vars };

  const parsed = configSchema.safeParse(substituted);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const steps = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push({ path: formatPath([...steps, key]), message: 'unknown key', line: lineOf([...steps, key]) });
      } else {
        problems.push({ path: formatPath(steps), message: issue.message, line: lineOf(steps) });
      }
    }
  } else {
    checkSemantics(parsed.data, (steps, message) => problems.push({ path: formatPath(steps), message, line: lineOf(steps) }));
  }
  if (problems.length > 0) throw new ConfigError(source, problems);
  return { config: parsed.data!, secrets: [...secrets], source };
}

export function loadConfigFile(file: string, options: LoadOptions = {}): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the config file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
  return parseConfig(text, file, { baseDir: path.dirname(path.resolve(file)), ...options });
}
