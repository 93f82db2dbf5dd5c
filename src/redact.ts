// Secrets (every value that came from the environment or a file) must never reach logs, metrics,
// pages, the API, emails or error messages. Everything shown to people passes through a Redactor.

export const REDACTED = '<redacted>';

/** Header names whose values are credentials whatever they hold. */
const SECRET_HEADERS = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|x-checksum|x-auth-token)$/i;

export class Redactor {
  private secrets: string[] = [];

  constructor(secrets: Iterable<string> = []) {
    for (const s of secrets) this.add(s);
  }

  /** A secret and the forms it travels in: URL-encoded, JSON-escaped, base64. */
  add(secret: string): void {
    this.addOne(secret);
    this.addOne(encodeURIComponent(secret));
    this.addOne(JSON.stringify(secret).slice(1, -1));
    this.addOne(Buffer.from(secret).toString('base64').replace(/=+$/, ''));
  }

  private addOne(secret: string): void {
    // Very short values would redact ordinary words; they are not credentials anyway.
    if (secret.length < 4 || this.secrets.includes(secret)) return;
    this.secrets.push(secret);
    // Longest first, so a secret that contains another is replaced whole.
    this.secrets.sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.secrets.length;
  }

  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
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

/** Cut text to at most `max` characters, saying how much was left out. */
export function excerpt(text: string, max = 2000): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… [${text.length - max} more characters]`;
}
