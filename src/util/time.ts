// Days and times in a timezone, for the counters, the history queries, the digest and the pages.
// The platform's counters are "today's" counts, so every day here is a calendar day in a named
// timezone, never UTC.
const formatters = new Map<string, Intl.DateTimeFormat>();

/** YYYY-MM-DD of an instant in a timezone. */
export function dayIn(timezone: string, at: number | Date = Date.now()): string {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timezone, f);
  }
  return f.format(at);
}

const partFormatters = new Map<string, Intl.DateTimeFormat>();

function parts(timezone: string, at: number): Record<string, number> {
  let f = partFormatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    partFormatters.set(timezone, f);
  }
  const out: Record<string, number> = {};
  for (const p of f.formatToParts(at)) if (p.type !== 'literal') out[p.type] = Number(p.value);
  return out;
}

/** Milliseconds the timezone is ahead of UTC at an instant. */
function offsetMs(timezone: string, at: number): number {
  const p = parts(timezone, at);
  const whole = Math.floor(at / 1000) * 1000;
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - whole;
}

/**
 * The instants [start, end) of a calendar day in a timezone. Computed twice around the offset so a
 * DST change on that day lands right; callers still filter with dayIn() for the rare zone whose
 * midnight does not exist.
 */
export function dayRange(day: string, timezone: string): { start: number; end: number } {
  const [y, m, d] = day.split('-').map(Number);
  const midnight = (utc: number) => {
    const first = utc - offsetMs(timezone, utc);
    return utc - offsetMs(timezone, first);
  };
  return { start: midnight(Date.UTC(y, m - 1, d)), end: midnight(Date.UTC(y, m - 1, d + 1)) };
}

/** The day `n` days after `day` (negative: before). */
export function shiftDay(day: string, n: number): string {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

export function isDay(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  return shiftDay(text, 0) === text;
}

/** HH:MM:SS of an instant in a timezone. */
export function timeOfDay(timezone: string, at: number): string {
  const p = parts(timezone, at);
  return [p.hour, p.minute, p.second].map((v) => String(v).padStart(2, '0')).join(':');
}

/** YYYY-MM-DD HH:MM:SS in a timezone. */
export function dateTime(timezone: string, at: number): string {
  return `${dayIn(timezone, at)} ${timeOfDay(timezone, at)}`;
}
