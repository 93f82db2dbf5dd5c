// `{{ name }}` templates, filled from a context of nested values:
//   service_id, app_id, business_id, name, params.X, vars.X, session.X (platform login), extracted.X (earlier calls).
// An unknown name is an error, never an empty string: a silently empty app id would make a call
// that looks like a failure of the platform.

const TAG = /\{\{\s*([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)\s*\}\}/g;

export type TemplateContext = Record<string, unknown>;

export class TemplateError extends Error {
  constructor(readonly variable: string) {
    super(`unknown template variable {{${variable}}}`);
    this.name = 'TemplateError';
  }
}

/** The variable names a template uses. */
export function templateRefs(template: string): string[] {
  return [...template.matchAll(TAG)].map((m) => m[1]);
}

function resolve(ctx: TemplateContext, name: string): string {
  let cur: unknown = ctx;
  for (const part of name.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, part)) throw new TemplateError(name);
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null || typeof cur === 'object') throw new TemplateError(name);
  return String(cur);
}

/** Replace each `{{ name }}` with what `fill` gives for it (`whole` is the tag as written). */
export function replaceRefs(template: string, fill: (name: string, whole: string) => string): string {
  if (!template.includes('{{')) return template;
  return template.replace(TAG, (whole: string, name: string) => fill(name, whole));
}

/** Fill a string; throws TemplateError for an unknown name (callers turn it into a failed call). */
export function render(template: string, ctx: TemplateContext): string {
  return replaceRefs(template, (name) => resolve(ctx, name));
}

/** Fill every string inside a JSON-like value. */
export function renderDeep<T>(value: T, ctx: TemplateContext): T {
  if (typeof value === 'string') return render(value, ctx) as T;
  if (Array.isArray(value)) return value.map((v) => renderDeep(v, ctx)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = renderDeep(v, ctx);
    return out as T;
  }
  return value;
}

/** Every template string inside a JSON-like value, with its path suffix (for load-time checks). */
export function collectTemplates(value: unknown, path: (string | number)[] = []): { path: (string | number)[]; template: string }[] {
  if (typeof value === 'string') return value.includes('{{') ? [{ path, template: value }] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => collectTemplates(v, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => collectTemplates(v, [...path, k]));
  }
  return [];
}
