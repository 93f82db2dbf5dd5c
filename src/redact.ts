// Secrets (every value that came from the environment or a file) must never reach logs, metrics,
// pages, the API, emails or error messages. Everything shown to people passes through a Redactor.

export const REDACTED = '<redacted>';

/** Header names whose values are credentials whatever they hold. */
const SECRET_HEADERS = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|x-checksum|x-auth-token)$/i;

/**
 * How many run-time secrets (session tokens) a Redactor keeps at most. The platform sessions forget a
 * token once the one after it is in use; this bound only catches what they cannot (a session dropped
 * on reload): without it every login for months would stay, and redact() would slow down with them.
 */
export const MAX_LEARNT = 256;

/** The forms a secret travels in: as is, URL-encoded, JSON-escaped, base64. */
function forms(secret: string): string[] {
  const all = [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1), Buffer.from(secret).toString('base64').replace(/=+$/, '')];
  // Very short values would redact ordinary words; they are not credentials anyway.
  return [...new Set(all)].filter((s) => s.length >= 4);
}

export type Redact = (text: string) => string;

export class Redactor {
  /** Config secrets: kept for the life of the process. */
  private readonly permanent = new Set<string>();
  /** Secrets learnt at run time, oldest first (a Map keeps insertion order). */
  private readonly learnt = new Map<string, string[]>();
  /** Every form of both, longest first, so a secret that contains another is replaced whole. */
  private secrets: string[] = [];

  constructor(
    secrets: Iterable<string> = [],
    private readonly maxLearnt = MAX_LEARNT,
  ) {
    for (const s of secrets) this.add(s);
  }

  /** A secret for good (config, environment, files). */
  add(secret: string): void {
    const before = this.permanent.size;
    for (const f of forms(secret)) this.permanent.add(f);
    if (this.permanent.size !== before) this.rebuild();
  }

  /**
   * A secret learnt at run time (a session token). Kept until forgotten, or until it is the oldest
   * of more than `maxLearnt`.
   */
  learn(secret: string): void {
    const f = forms(secret);
    if (f.length === 0) return;
    // Learnt again: it becomes the newest.
    this.learnt.delete(secret);
    this.learnt.set(secret, f);
    while (this.learnt.size > this.maxLearnt) this.learnt.delete(this.learnt.keys().next().value!);
    this.rebuild();
  }

  /** A learnt secret no longer in use. Config secrets are never forgotten. */
  forget(secret: string): void {
    if (this.learnt.delete(secret)) this.rebuild();
  }

  private rebuild(): void {
    const all = new Set(this.permanent);
    for (const f of this.learnt.values()) for (const s of f) all.add(s);
    this.secrets = [...all].sort((a, b) => b.length - a.length);
  }

  /** Strings searched by redact(): every form of every secret. */
  get size(): number {
    return this.secrets.length;
  }

  /** Run-time secrets currently kept. */
  get learntCount(): number {
    return this.learnt.size;
  }

  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  }

  /**
   * Text that was cut short before it got here (output past a byte limit): redacted, and a secret's
   * beginning left at the very end, which redact() cannot recognise, is hidden too.
   */
  redactCut(text: string): string {
    const out = this.redact(text);
    let longest = 0;
    for (const s of this.secrets) {
      for (let l = Math.min(s.length - 1, out.length); l > longest; l--) {
        if (out.endsWith(s.slice(0, l))) {
          longest = l;
          break;
        }
      }
    }
    return longest === 0 ? out : `${out.slice(0, out.length - longest)}${REDACTED}`;
  }

  /** Redacted, then cut: see excerpt(). */
  excerpt(text: string, max: number): string {
    return excerpt(text, max, (t) => this.redact(t));
  }

  headers(headers: Record<string, string | string[] | undefined>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) {
      if (v === undefined) continue;
      out[k] = SECRET_HEADERS.test(k) ? REDACTED : this.redact(Array.isArray(v) ? v.join(', ') : v);
    }
    return out;
  }
}

/**
 * The only way to shorten text for people: redact the whole text, then cut it to `max` characters,
 * saying how much was left out. The other order would leave the first characters of a secret that
 * straddles the cut, which the redactor can no longer recognise. A `<redacted>` marker is kept whole
 * (the cut moves past it), so it still says that a secret was there.
 */
export function excerpt(text: string, max: number, redact: Redact): string {
  const clean = redact(text);
  if (clean.length <= max) return clean;
  let cut = max;
  const marker = clean.lastIndexOf(REDACTED, max - 1);
  if (marker >= 0 && marker + REDACTED.length > max) cut = marker + REDACTED.length;
  if (cut >= clean.length) return clean;
  return `${clean.slice(0, cut)}… [${clean.length - cut} more characters]`;
}
