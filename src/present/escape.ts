// Making any text safe where it is shown: escaped for HTML (pages and the email), cut to a bounded
// length, and flattened for plain text (the email's text part). Every value that reaches a page or
// an email goes through these.

export function esc(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Longest text taken from a result into an email or a page cell. */
export const MAX_CELL = 300;

export function clip(text: string, max = MAX_CELL): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** Control characters (a hostile name could carry a terminal escape or a fake line) become spaces. */
export const flat = (text: string) => text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
