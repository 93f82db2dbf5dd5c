// Content negotiation for the telemetry path, with q-values honoured: `q=0` is a refusal
// (RFC 9110 section 12.4.2), so `application/openmetrics-text;q=0` gets the text format and
// `gzip;q=0` an uncompressed body. Malformed parts of a header are skipped, never thrown on.

interface Range {
  value: string;
  params: Map<string, string>;
  q: number;
}

/** The comma-separated list of an Accept-like header, each element with its parameters and q. */
export function parseList(header: string | undefined): Range[] {
  const out: Range[] = [];
  for (const part of (header ?? '').split(',').slice(0, 64)) {
    const [head, ...rest] = part.split(';');
    const value = head.trim().toLowerCase();
    if (value === '') continue;
    const params = new Map<string, string>();
    let q = 1;
    for (const p of rest) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      const key = p.slice(0, eq).trim().toLowerCase();
      const val = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      if (key === 'q') {
        const n = Number(val);
        // An unreadable q is not a refusal: the client asked for the thing, only badly weighted.
        q = /^\d(\.\d{0,3})?$/.test(val) && n >= 0 && n <= 1 ? n : 1;
      } else params.set(key, val);
    }
    out.push({ value, params, q });
  }
  return out;
}

/** The q the header gives `type/subtype`: the most specific matching range wins (RFC 9110). */
function qualityOf(ranges: Range[], type: string): number | null {
  const [major] = type.split('/');
  let best: { q: number; specificity: number } | null = null;
  for (const r of ranges) {
    const specificity = r.value === type ? 2 : r.value === `${major}/*` ? 1 : r.value === '*/*' ? 0 : -1;
    if (specificity < 0) continue;
    if (!best || specificity > best.specificity || (specificity === best.specificity && r.q > best.q)) best = { q: r.q, specificity };
  }
  return best?.q ?? null;
}

/**
 * OpenMetrics when the client accepts it at least as much as the text format; the text format
 * otherwise, including when nothing offered is acceptable (what every Prometheus client does).
 */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  const ranges = parseList(accept);
  const open = ranges.filter((r) => r.value === 'application/openmetrics-text');
  // Only an explicit OpenMetrics range asks for it; */* alone keeps the text format for curl and browsers.
  if (open.length === 0) return false;
  const openQ = Math.max(...open.map((r) => r.q));
  if (openQ <= 0) return false;
  const textQ = qualityOf(ranges, 'text/plain') ?? 0;
  return openQ >= textQ;
}

/** gzip when it is acceptable (by name or by `*`) with a q above 0. */
export function wantsGzip(acceptEncoding: string | undefined): boolean {
  const ranges = parseList(acceptEncoding);
  const named = ranges.filter((r) => r.value === 'gzip' || r.value === 'x-gzip');
  if (named.length > 0) return Math.max(...named.map((r) => r.q)) > 0;
  const star = ranges.find((r) => r.value === '*');
  return star !== undefined && star.q > 0;
}
