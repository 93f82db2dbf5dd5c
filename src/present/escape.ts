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

/**
 * A run of characters no browser may break inside: anything but white space and the scripts that
 * break between any two characters (CJK, kana, hangul, full-width forms).
 */
const UNBROKEN_RUN = /[^\s\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]+/gu;

/** Longest unbroken run kept whole in an email; see shortenRuns. */
export const MAX_RUN = 80;

/**
 * Long unbroken runs shortened to their start and end (the email). A mail client may ignore every
 * CSS rule that wraps a long word, and a 2,000-character base64 frame in a reason then widens the
 * whole message; what a person needs from such a run is where it starts and ends, and the pages keep
 * the whole reason.
 */
export function shortenRuns(text: string, max = MAX_RUN): string {
  return text.replace(UNBROKEN_RUN, (run) => {
    // By code points, so a character outside the BMP is never cut in half.
    const chars = Array.from(run);
    return chars.length <= max ? run : `${chars.slice(0, max - 20).join('')}…${chars.slice(-16).join('')}`;
  });
}

/**
 * Escaped HTML with a break opportunity (`<wbr>`) every `every` characters inside unbroken runs
 * longer than `longerThan` (a name or a word stays one piece),
 * for clients that honour neither `overflow-wrap` nor `word-break`. Copying the text is unchanged.
 */
export function escBreakable(value: unknown, every = 32, longerThan = 48): string {
  const text = String(value ?? '');
  let out = '';
  let last = 0;
  for (const m of text.matchAll(UNBROKEN_RUN)) {
    out += esc(text.slice(last, m.index));
    const run = m[0];
    const chars = Array.from(run);
    if (chars.length <= longerThan) {
      out += esc(run);
      last = m.index + run.length;
      continue;
    }
    const pieces: string[] = [];
    for (let i = 0; i < chars.length; i += every) pieces.push(esc(chars.slice(i, i + every).join('')));
    out += pieces.join('<wbr>');
    last = m.index + run.length;
  }
  return out + esc(text.slice(last));
}

/**
 * A text cut by redact.ts's excerpt() ends in "… [N more characters]"; a page in another locale
 * says it in its own words.
 */
export function localiseCut(text: string, cut: (n: number) => string): string {
  return text.replace(/… \[(\d+) more characters\]$/, (_, n: string) => `… ${cut(Number(n))}`);
}
