// Summary statistics for the benchmark tables. Percentiles use the nearest-rank method, so every
// figure printed is a time one image really took (no interpolation between two images).

/** Nearest-rank percentile (p in [0,100]) of an array of numbers; NaN when empty. */
export function percentile(values, p) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!sorted.length) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

/** {median, p95, n} of one field over the rows that succeeded. */
export function summarise(rows, field) {
  const values = rows.filter((r) => !r.error).map((r) => r[field]);
  return { median: percentile(values, 50), p95: percentile(values, 95), n: values.length };
}

/** Formats milliseconds for a table: one decimal below 100 ms, none above; '–' for missing. */
export function ms(value) {
  if (!Number.isFinite(value)) return '–';
  return value < 100 ? value.toFixed(1) : value.toFixed(0);
}

/** Formats bytes as MiB. */
export function mib(bytes) {
  return Number.isFinite(bytes) && bytes > 0 ? (bytes / 1048576).toFixed(0) : '–';
}

/** a/b as "2.4x" (digits after the point), or '–'. */
export function ratio(a, b, digits = 1) {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(digits)}x` : '–';
}
