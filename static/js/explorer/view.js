// An explorer view: what a chart shows, as the page's URL query string holds it (so it can be bookmarked,
// shared and pinned) and as the explorer/series read asks for it.
export const AGGREGATIONS = ["avg", "sum", "count", "min", "max", "p95", "p99"];
export const BUCKETS = ["auto", "1m", "5m", "1h", "1d"];
export const RANGES = [[15, "15 min"], [60, "1 hour"], [360, "6 hours"], [1440, "24 hours"], [10080, "7 days"]];
export const BUCKET_MS = { "1m": 60e3, "5m": 300e3, "1h": 3600e3, "1d": 86400e3 };
export const TOP_LINES = 8;

const DEFAULTS = { name: "", agg: "avg", bucket: "auto", minutes: 60, groupBy: "", filters: {} };

/** The view a query string describes; anything missing or unknown falls back to its default. */
export function viewFromQuery(search) {
  const params = new URLSearchParams(search);
  const minutes = Number(params.get("minutes"));
  return {
    name: params.get("name") ?? DEFAULTS.name,
    agg: AGGREGATIONS.includes(params.get("agg")) ? params.get("agg") : DEFAULTS.agg,
    bucket: BUCKETS.includes(params.get("bucket")) ? params.get("bucket") : DEFAULTS.bucket,
    minutes: RANGES.some(([value]) => value === minutes) ? minutes : DEFAULTS.minutes,
    groupBy: params.get("group_by") ?? DEFAULTS.groupBy,
    filters: parseFilters(params.get("filters")),
  };
}

function parseFilters(text) {
  try {
    const filters = JSON.parse(text ?? "{}");
    if (filters && typeof filters === "object" && !Array.isArray(filters)) {
      return Object.fromEntries(Object.entries(filters).filter(([, value]) => typeof value === "string"));
    }
  } catch {
    // A hand-edited URL with broken filters shows the view without them.
  }
  return {};
}

/** The query string of a view (defaults left out, keys in a fixed order, so one view has one URL). */
export function queryOfView(view) {
  const params = new URLSearchParams();
  if (view.name) params.set("name", view.name);
  if (view.agg !== DEFAULTS.agg) params.set("agg", view.agg);
  if (view.bucket !== DEFAULTS.bucket) params.set("bucket", view.bucket);
  if (view.minutes !== DEFAULTS.minutes) params.set("minutes", String(view.minutes));
  if (view.groupBy) params.set("group_by", view.groupBy);
  if (Object.keys(view.filters).length) params.set("filters", JSON.stringify(sortedObject(view.filters)));
  return params.toString();
}

/** The explorer/series parameters of a view. */
export function seriesParams(view) {
  return { name: view.name, agg: view.agg, minutes: view.minutes, bucket: view.bucket === "auto" ? null : view.bucket,
    group_by: view.groupBy || null, top: TOP_LINES,
    filters: Object.keys(view.filters).length ? JSON.stringify(sortedObject(view.filters)) : null };
}

/** A short title: "p95 checkout.latency_ms by region · region=eu · 1 hour". */
export function titleOfView(view) {
  const filters = Object.entries(view.filters).map(([key, value]) => `${key}=${value}`);
  const range = RANGES.find(([value]) => value === view.minutes)?.[1] ?? `${view.minutes} min`;
  return [`${view.agg} ${view.name}${view.groupBy ? ` by ${view.groupBy}` : ""}`, ...filters, range].join(" · ");
}

function sortedObject(object) {
  return Object.fromEntries(Object.entries(object).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
