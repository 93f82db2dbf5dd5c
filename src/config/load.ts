// Loading a config file: YAML -> ${ENV} substitution -> schema -> checks that need more than a type.
// Every problem is collected and reported at once, each with its path (and line) in the file.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Lexer, LineCounter, parseDocument, type Document } from 'yaml';
import { kindNamed, kindOf, type CallKind } from '../probes/registry.js';
import type { Add, Steps } from '../probes/types.js';
import { configSchema, kindProblems, type AuthCheckConfig, type CallConfig, type Config } from './schema.js';
import { parsePath } from '../jsonpath.js';
import { checkSlo } from './slo.js';
import { shareAlike } from './share.js';
import { collectTemplates, replaceRefs, templateRefs } from '../template.js';
import { Redactor } from '../redact.js';
import { checkMaintenance } from './maintenance.js';
import { readInPieces } from './yaml-pieces.js';

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

// ${VAR}, ${plain:VAR} (either with :-default), ${file:PATH}, $$; and any other ${...}, so that a
// misspelt form is refused instead of being sent as written.
const ENV_REF = /\$\$|\$\{((?:plain:)?[A-Za-z_][A-Za-z0-9_]*|file:[^}]+)(?::-([^}]*))?\}|\$\{[^}]*\}/g;

/**
 * Replace ${VAR}, ${VAR:-default}, ${plain:VAR}, ${plain:VAR:-default} and ${file:PATH} inside every
 * string of the tree. `$$` is a literal `$`. Values from ${VAR} and ${file:...} are secrets;
 * ${plain:VAR} is for what differs per environment but is no secret (a port, a URL).
 */
function substitute(value: unknown, steps: (string | number)[], opts: Required<Pick<LoadOptions, 'env' | 'baseDir'>>, secrets: Set<string>, problems: ConfigProblem[]): unknown {
  if (typeof value === 'string') {
    if (!value.includes('$')) return value;
    return value.replace(ENV_REF, (whole, ref: string | undefined, fallback: string | undefined) => {
      if (whole === '$$') return '$';
      if (ref === undefined) {
        problems.push({ path: formatPath(steps), message: `${whole} is not a reference this file understands: write \${VAR}, \${VAR:-default}, \${plain:VAR}, \${file:path}, or $$ for a literal $` });
        return whole;
      }
      if (ref.startsWith('file:')) {
        const file = path.resolve(opts.baseDir, ref.slice(5));
        try {
          const text = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
          secrets.add(text);
          return text;
        } catch (err) {
          problems.push({ path: formatPath(steps), message: `cannot read secret file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
          return '';
        }
      }
      const plain = ref.startsWith('plain:');
      const name = plain ? ref.slice(6) : ref;
      const v = opts.env[name];
      if (v !== undefined && v !== '') {
        if (!plain) secrets.add(v);
        return v;
      }
      if (fallback !== undefined) return fallback;
      const form = plain ? `plain:${name}` : name;
      problems.push({ path: formatPath(steps), message: `environment variable ${name} is not set (write \${${form}:-default} to give a default)` });
      return '';
    });
  }
  // The tree is the reader's own, fresh from the YAML: filled in place rather than copied, so the
  // load holds one copy of a large config, not two.
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = substitute(value[i], [...steps, i], opts, secrets, problems);
    return value;
  }
  if (value !== null && typeof value === 'object') {
    const out = value as Record<string, unknown>;
    for (const k of Object.keys(out)) {
      // Keys are names (a header, a query parameter, a JSON field): neither ${...} nor {{...}} is
      // filled in them, so one written there would be sent as it stands.
      if (/\$\{[^}]*\}/.test(k)) problems.push({ path: formatPath([...steps, k]), message: `"${k}": \${...} is replaced in values only, not in names; write the name itself` });
      else if (k.includes('{{')) problems.push({ path: formatPath([...steps, k]), message: `"${k}": {{...}} templates are filled in values only, not in names; write the name itself` });
      out[k] = substitute(out[k], [...steps, k], opts, secrets, problems);
    }
    return out;
  }
  return value;
}

/**
 * `vars` may build on each other (`api: "{{vars.base}}/v1"`): filled here, once, in any order.
 * A var may refer only to other vars (it is shared by every service, so {{app_id}} means nothing
 * there), a reference to an unknown var or a cycle is a problem, and nothing is left to send as
 * written. Recursion is bounded: a chain holds each var at most once.
 */
function resolveVars(vars: Record<string, string>, add: Add): void {
  const names = Object.keys(vars);
  const done = new Map<string, string | null>();
  const visit = (name: string, chain: string[]): string | null => {
    if (done.has(name)) return done.get(name)!;
    let failed = false;
    const value = replaceRefs(vars[name], (ref, whole) => {
      const target = ref.startsWith('vars.') ? ref.slice(5) : null;
      if (target === null) {
        add(['vars', name], `${whole}: vars can only use other vars ({{vars.X}}); they are shared by every service`);
      } else if (!Object.hasOwn(vars, target)) {
        add(['vars', name], `unknown template variable ${whole} (vars: ${names.join(', ')})`);
      } else if (chain.includes(target)) {
        add(['vars', name], `${whole} makes a cycle: ${[...chain.slice(chain.indexOf(target)), target].map((n) => `vars.${n}`).join(' -> ')}`);
      } else {
        const filled = visit(target, [...chain, target]);
        if (filled !== null) return filled;
      }
      failed = true;
      return whole;
    });
    done.set(name, failed ? null : value);
    return done.get(name)!;
  };
  for (const name of names) {
    const value = visit(name, [name]);
    if (value !== null) vars[name] = value;
  }
}

/**
 * A service's own values (app_id, business_id, name, params.X) are what templates are filled
 * with; they are not templates themselves, so a {{...}} in one would be sent as written. {{vars.X}}
 * is filled here (vars are resolved by then); anything else is refused.
 */
function fillServiceValues(config: Config, add: Add): void {
  const vars = config.vars;
  const fill = (steps: (string | number)[], value: string): string =>
    replaceRefs(value, (ref, whole) => {
      const name = ref.startsWith('vars.') ? ref.slice(5) : null;
      if (name !== null && Object.hasOwn(vars, name)) return vars[name];
      add(steps, name !== null
        ? `unknown template variable ${whole} (vars: ${Object.keys(vars).join(', ') || 'none'})`
        : `${whole}: a service's app_id, business_id, name and params can only use {{vars.X}}; they are the values templates are filled with`);
      return whole;
    });
  config.services.forEach((s, si) => {
    s.app_id = fill(['services', si, 'app_id'], s.app_id);
    s.business_id = fill(['services', si, 'business_id'], s.business_id);
    if (s.name !== undefined) s.name = fill(['services', si, 'name'], s.name);
    for (const k of Object.keys(s.params)) s.params[k] = fill(['services', si, 'params', k], s.params[k]);
  });
}

/** Nesting deeper than any config needs: refused before the YAML composer recurses into it. */
const MAX_YAML_DEPTH = 64;
/** Alias expansions allowed (yaml's own guard against "billion laughs"). */
const MAX_YAML_ALIASES = 100;

/**
 * How deep the YAML nests and where its first alias is, from the lexer's tokens (the lexer keeps
 * no stack; yaml's parser and composer recurse and overflow on thousands of levels). The depth is
 * an estimate: open block indentations, plus `-`/`?` indicators on the current line, plus open
 * flow brackets. A real config stays below 20; what matters is that thousands of levels are
 * refused before anything recurses.
 */
function scanYaml(text: string): { tooDeep?: number; firstAlias?: number } {
  const out: { tooDeep?: number; firstAlias?: number } = {};
  const indents: number[] = [];
  let line = 1;
  let flow = 0;
  let indicators = 0;
  let indent = 0;
  let atLineStart = true;
  let placed = false;
  for (const token of new Lexer().lex(text)) {
    const tokenLine = line;
    for (const ch of token) if (ch === '\n') line++;
    if (/^[ \t]+$/.test(token)) {
      if (atLineStart) indent = token.length;
      continue;
    }
    if (token.trim() === '' || (token.length === 1 && token < ' ') || token.startsWith('#')) {
      if (token.includes('\n')) [atLineStart, indent, indicators, placed] = [true, 0, 0, false];
      continue;
    }
    atLineStart = false;
    if (!placed && flow === 0) {
      while (indents.length > 0 && indents[indents.length - 1] > indent) indents.pop();
      if (indents.length === 0 || indents[indents.length - 1] < indent) indents.push(indent);
      placed = true;
    }
    if (flow === 0 && (token === '-' || token === '?')) indicators++;
    else if (token === '[' || token === '{') flow++;
    else if ((token === ']' || token === '}') && flow > 0) flow--;
    else if (token.startsWith('*')) out.firstAlias ??= tokenLine;
    if (indents.length + indicators + flow > MAX_YAML_DEPTH) {
      out.tooDeep = tokenLine;
      break;
    }
    // A block scalar's text ends with its last newline: the next token starts a line.
    if (token.endsWith('\n')) [atLineStart, indent, indicators, placed] = [true, 0, 0, false];
  }
  return out;
}

/** `{{chunk}}` and the like: names a kind fills itself, known in its request only. */
function withKindNames(kind: CallKind, scope: (ref: string) => string | null): (ref: string) => string | null {
  const own = kindNamed(kind).templateNames ?? [];
  return (ref) => (own.includes(ref) ? null : scope(ref));
}

/** What each kind of call may expect, sign and call rejected (docs/clients.md), by its own module. */
function checkClient(
  steps: Steps,
  c: CallConfig | AuthCheckConfig,
  role: 'call' | 'check',
  scope: (ref: string) => string | null,
  add: Add,
  checkTemplates: (steps: Steps, value: unknown, allowed: (name: string) => string | null) => void,
): void {
  if (c.sign) checkTemplates([...steps, 'sign'], c.sign, scope);
  for (const p of kindProblems(c, role)) add([...steps, ...p.steps], p.message);
}

/** The request of a call or an auth check, under its kind's key. */
const requestOf = (c: CallConfig | AuthCheckConfig, kind: CallKind): unknown => (c as unknown as Record<CallKind, unknown>)[kind];

/** Payload files and script folders are relative to the config file: each kind resolves its own. */
function resolveClientFiles(config: Config, baseDir: string, add: Add): void {
  config.services.forEach((s, si) => {
    const each = (steps: Steps, c: CallConfig | AuthCheckConfig) => {
      const kind = kindOf(c)!;
      kindNamed(kind).resolveFiles?.(requestOf(c, kind), [...steps, kind], baseDir, add);
    };
    s.calls.forEach((c, ci) => each(['services', si, 'calls', ci], c));
    s.auth_checks.forEach((a, ai) => each(['services', si, 'auth_checks', ai], a));
  });
}

/** Checks that need the whole file (references between parts of it). The schema checked the rest. */
function checkSemantics(config: Config, add: (steps: (string | number)[], message: string) => void): void {
  const checkTemplates = (steps: (string | number)[], value: unknown, allowed: (name: string) => string | null) => {
    for (const t of collectTemplates(value)) {
      for (const ref of templateRefs(t.template)) {
        const why = allowed(ref);
        if (why) add([...steps, ...t.path], why);
      }
    }
  };
  const varNames = new Set(Object.keys(config.vars));
  const platformNames = Object.keys(config.platforms);
  if (platformNames.length === 0) add(['platforms'], 'configure at least one platform (its login and counter)');
  for (const [name, p] of Object.entries(config.platforms)) {
    const base = ['platforms', name];
    for (const [k, v] of Object.entries(p.login.extract)) {
      const parsed = v.startsWith('cookie:') ? (v.length > 7 ? [] : 'cookie: needs a cookie name') : parsePath(v);
      if (typeof parsed === 'string') add([...base, 'login', 'extract', k], parsed);
    }
    const sessionNames = new Set(Object.keys(p.login.extract));
    checkTemplates([...base, 'login', 'http'], p.login.http, (ref) =>
      ref.startsWith('vars.') && varNames.has(ref.slice(5)) ? null : `unknown template variable {{${ref}}}: the login request can use vars.X`,
    );
    checkTemplates([...base, 'session'], p.session, (ref) => {
      if (ref.startsWith('vars.') && varNames.has(ref.slice(5))) return null;
      if (ref.startsWith('session.') && sessionNames.has(ref.slice(8))) return null;
      return `unknown template variable {{${ref}}}: here you can use vars.X and session.X (${[...sessionNames].join(', ')})`;
    });
  }

  const ids = new Map<string, number>();
  config.services.forEach((s, si) => {
    const base: (string | number)[] = ['services', si];
    if (ids.has(s.id)) add([...base, 'id'], `duplicate service id "${s.id}" (also services[${ids.get(s.id)}])`);
    else ids.set(s.id, si);

    if (s.platform !== undefined && !config.platforms[s.platform]) add([...base, 'platform'], `unknown platform "${s.platform}" (configured: ${platformNames.join(', ') || 'none'})`);
    if (s.platform === undefined && platformNames.length > 1) add([...base, 'platform'], `required when more than one platform is configured (${platformNames.join(', ')})`);
    const platformName = s.platform ?? platformNames[0];
    const platform = config.platforms[platformName];

    const scope = (extracted: Set<string>) => (ref: string): string | null => {
      const [head, ...rest] = ref.split('.');
      const tail = rest.join('.');
      if (['service_id', 'app_id', 'business_id', 'name'].includes(ref)) return null;
      if (head === 'vars' && varNames.has(tail)) return null;
      if (head === 'params' && tail in s.params) return null;
      if (head === 'session' && platform && tail in platform.login.extract) return null;
      if (head === 'extracted' && extracted.has(tail)) return null;
      return `unknown template variable {{${ref}}}: use service_id, app_id, business_id, name, vars.X, params.X, session.X or extracted.X (from an earlier call)`;
    };
    if (platform) checkTemplates(['platforms', platformName, 'counter', 'http'], platform.counter.http, scope(new Set()));

    const callNames = new Set<string>();
    const extracted = new Set<string>();
    s.calls.forEach((c, ci) => {
      const cb = [...base, 'calls', ci];
      if (callNames.has(c.name)) add([...cb, 'name'], `duplicate call name "${c.name}"`);
      callNames.add(c.name);
      const kind = kindOf(c)!;
      checkTemplates([...cb, kind], requestOf(c, kind), withKindNames(kind, scope(extracted)));
      checkClient(cb, c, 'call', scope(extracted), add, checkTemplates);
      for (const k of Object.keys(c.extract)) extracted.add(k);
    });
    const checkNames = new Set<string>();
    s.auth_checks.forEach((a, ai) => {
      const ab = [...base, 'auth_checks', ai];
      if (checkNames.has(a.name)) add([...ab, 'name'], `duplicate auth check name "${a.name}"`);
      checkNames.add(a.name);
      const kind = kindOf(a)!;
      checkTemplates([...ab, kind], requestOf(a, kind), withKindNames(kind, scope(extracted)));
      checkClient(ab, a, 'check', scope(extracted), add, checkTemplates);
    });
  });
}

const REQUIRED = 'required';
const KIND_WORDS: Record<string, string> = { object: 'a mapping', record: 'a mapping', array: 'a list', string: 'a string', number: 'a number', boolean: 'true or false' };
const REQUIRED_HINTS: Record<string, string> = {
  platforms: 'a mapping of platform names to their login and counter',
  services: 'a list of services, each with an id and its calls',
};

/** "required (a string)" for a missing key instead of zod's "expected string, received undefined". */
function requiredMessage(issue: { code?: string; input?: unknown; path?: PropertyKey[]; expected?: unknown }): string | undefined {
  if (issue.input !== undefined || (issue.code !== 'invalid_type' && issue.code !== 'invalid_union')) return undefined;
  const where = formatPath((issue.path ?? []).filter((p): p is string | number => typeof p !== 'symbol'));
  const hint = REQUIRED_HINTS[where] ?? (typeof issue.expected === 'string' ? KIND_WORDS[issue.expected] : undefined);
  return hint ? `${REQUIRED} (${hint})` : REQUIRED;
}

/** Parse and validate config text. Throws ConfigError listing every problem. */
export function parseConfig(text: string, source = 'config', options: LoadOptions = {}): LoadedConfig {
  const scan = scanYaml(text);
  if (scan.tooDeep !== undefined) {
    throw new ConfigError(source, [{ path: '', message: `YAML: nested more than ${MAX_YAML_DEPTH} levels deep`, line: scan.tooDeep }]);
  }
  // The Document (and its line counter) is what finds a line for a path. A large file is read in
  // pieces instead, to plain values only (./yaml-pieces.ts), and the Document is made again only
  // if a problem needs its line; a file read whole drops its Document before the schema runs. A
  // whole reading is the same each time, so the lines are too.
  let located: { doc: Document; lineCounter: LineCounter } | undefined;
  const readWhole = () => {
    const lineCounter = new LineCounter();
    return { doc: parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true }), lineCounter };
  };
  const lineOf = (steps: (string | number)[]): number | undefined => {
    located ??= readWhole();
    for (let n = steps.length; n >= 0; n--) {
      const node = located.doc.getIn(steps.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && node.range) return located.lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  let raw: unknown = scan.firstAlias === undefined ? readInPieces(text) : undefined;
  if (raw === undefined) {
    const whole = readWhole();
    const doc = whole.doc;
    if (doc.errors.length > 0) {
      // One problem per distinct message and line: a broken construct can be reported again for
      // every level it is nested in.
      const seen = new Set<string>();
      const yamlProblems: ConfigProblem[] = [];
      for (const e of doc.errors) {
        const p = { path: '', message: `YAML: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`, line: e.linePos?.[0]?.line };
        if (seen.has(`${p.line}:${p.message}`)) continue;
        seen.add(`${p.line}:${p.message}`);
        yamlProblems.push(p);
      }
      throw new ConfigError(source, yamlProblems);
    }
    try {
      raw = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
    } catch (err) {
      if (!(err instanceof ReferenceError)) throw err;
      throw new ConfigError(source, [
        { path: '', message: `YAML: aliases expand to too many copies (more than ${MAX_YAML_ALIASES}); write the values out or use fewer nested aliases`, line: scan.firstAlias },
      ]);
    }
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(source, [{ path: '', message: 'the file must be a YAML mapping with platforms and services' }]);
  }

  const problems: ConfigProblem[] = [];
  const secrets = new Set<string>();
  const env = options.env ?? process.env;
  const baseDir = options.baseDir ?? process.cwd();
  const substituted = substitute(raw, [], { env, baseDir }, secrets, problems) as Record<string, unknown>;
  for (const p of problems) p.line ??= lineOf(p.path.split(/\.|\[|\]/).filter(Boolean).map((x) => (/^\d+$/.test(x) ? Number(x) : x)));
  if (options.vars) substituted.vars = { ...((substituted.vars as Record<string, string>) ?? {}), ...options.vars };

  const parsed = configSchema.safeParse(substituted, { error: requiredMessage });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const steps = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push({ path: formatPath([...steps, key]), message: 'unknown key', line: lineOf([...steps, key]) });
      } else if (issue.message === REQUIRED || issue.message.startsWith(`${REQUIRED} (`)) {
        // A missing key has no line of its own: the line is its parent's (none at the top level).
        problems.push({ path: formatPath(steps), message: issue.message, line: steps.length > 1 ? lineOf(steps.slice(0, -1)) : undefined });
      } else {
        problems.push({ path: formatPath(steps), message: issue.message, line: lineOf(steps) });
      }
    }
  } else {
    resolveVars(parsed.data.vars, (steps, message) => problems.push({ path: formatPath(steps), message, line: lineOf(steps) }));
    fillServiceValues(parsed.data, (steps, message) => problems.push({ path: formatPath(steps), message, line: lineOf(steps) }));
    checkSemantics(parsed.data, (steps, message) => problems.push({ path: formatPath(steps), message, line: lineOf(steps) }));
    checkMaintenance(parsed.data, (steps, message) => problems.push({ path: formatPath(steps), message, line: lineOf(steps) }));
    resolveClientFiles(parsed.data, baseDir, (steps, message) => problems.push({ path: formatPath(steps), message, line: lineOf(steps) }));
    checkSlo(parsed.data, (steps, message) => problems.push({ path: formatPath(steps), message, line: lineOf(steps) }));
  }
  if (problems.length > 0) {
    // A message may quote the value it refuses; a value from the environment is a secret.
    const redactor = new Redactor(secrets);
    throw new ConfigError(source, problems.map((p) => ({ ...p, message: redactor.redact(p.message) })));
  }
  return { config: shareAlike(parsed.data!), secrets: [...secrets], source };
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
