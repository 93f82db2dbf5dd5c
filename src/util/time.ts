// Calendar days in a timezone: platform counters are "today's" counts in the platform's timezone.
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
