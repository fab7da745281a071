// An explorer chart: explorer/series drawn as one line per group, and pushed `metric` points folded into the
// bucket they fall in. Every point keeps its bucket's count, sum, min and max, so avg/sum/count/min/max stay
// exact as points arrive; p95/p99 are estimated from the read's value (weighted by its count) and the pushed
// values until the page reads the series again (when a bucket rolls over), never re-read per push.
import { LiveChart, PALETTE, timeLinesConfig, toMs } from "../dashboard/charts.js";
import { BUCKET_MS, TOP_LINES } from "./view.js";

const OTHER_COLOR = "#8b95a7";
const MAX_PUSHED_VALUES = 2000; // per bucket, for the percentile estimate
const PERCENTILES = { p95: 0.95, p99: 0.99 };

export class ExplorerChart extends LiveChart {
  constructor(card) {
    super(card, timeLinesConfig({ y: { beginAtZero: true },
      pointRadius: (context) => (context.dataset.data.length > 90 ? 0 : 2) }));
    this.view = null;
    this.bucketMs = BUCKET_MS["1m"];
  }

  /** Replace the lines with an explorer/series answer for `view`. */
  load(payload, view) {
    this.view = view;
    this.bucketMs = BUCKET_MS[payload.bucket];
    this.windowMs = payload.minutes * 60e3;
    this.chart.data.datasets = payload.series.map((line, index) => this.dataset(index, line.group, line.other, line.points));
    this.render();
  }

  /** Line `index` of the chart (its colour is the index-th of the palette). */
  dataset(index, group, other, points = []) {
    const stats = new Map(points.map((point) => [toMs(point.ts), { ...point, read: point.value, values: [] }]));
    const color = other ? OTHER_COLOR : PALETTE[index % PALETTE.length];
    const label = other ? "other" : this.view.groupBy ? (group ?? `(no ${this.view.groupBy})`) : this.view.name;
    return { label, group, other, stats, borderColor: color, backgroundColor: color, spanGaps: false,
      data: points.map((point) => ({ x: toMs(point.ts), y: point.value })) };
  }

  /** Fold one pushed `metric` item in when it belongs to this view; true when it did. */
  fold(item) {
    const view = this.view;
    if (!view || item.name !== view.name || typeof item.value !== "number") return false;
    const tags = item.tags ?? {};
    if (!Object.entries(view.filters).every(([key, value]) => tags[key] === value)) return false;
    const x = Math.floor(toMs(item.timestamp) / this.bucketMs) * this.bucketMs;
    if (x < Date.now() - this.windowMs - this.bucketMs) return false;
    const line = this.lineFor(view.groupBy ? (tags[view.groupBy] ?? null) : null);
    let stat = line.stats.get(x);
    if (!stat) {
      stat = { count: 0, sum: 0, min: Infinity, max: -Infinity, read: null, values: [] };
      line.stats.set(x, stat);
      insertSorted(line.data, { x, y: null });
    }
    stat.count += 1;
    stat.sum += item.value;
    stat.min = Math.min(stat.min, item.value);
    stat.max = Math.max(stat.max, item.value);
    if (stat.values.length < MAX_PUSHED_VALUES) stat.values.push(item.value);
    line.data.find((point) => point.x === x).y = valueOf(view.agg, stat);
    this.trim();
    this.render();
    return true;
  }

  /** The line of a group: its own, a new one while there are fewer than the top N, else "other". */
  lineFor(group) {
    const datasets = this.chart.data.datasets;
    const own = datasets.find((dataset) => !dataset.other && dataset.group === group);
    if (own) return own;
    const other = datasets.find((dataset) => dataset.other);
    if (other) return other;
    const line = this.dataset(datasets.length, group, datasets.length >= TOP_LINES);
    datasets.push(line);
    return line;
  }

  trim() {
    const oldest = Date.now() - this.windowMs - this.bucketMs;
    for (const dataset of this.chart.data.datasets) {
      while (dataset.data.length && dataset.data[0].x < oldest) dataset.stats.delete(dataset.data.shift().x);
    }
  }
}

function insertSorted(points, point) {
  const at = points.findIndex((existing) => existing.x > point.x);
  if (at === -1) points.push(point);
  else points.splice(at, 0, point);
}

/** A bucket's aggregate from its figures; percentiles weigh the read's value by the count it summarised. */
export function valueOf(agg, stat) {
  if (agg === "count") return stat.count;
  if (agg === "sum") return stat.sum;
  if (agg === "avg") return stat.sum / stat.count;
  if (agg === "min") return stat.min;
  if (agg === "max") return stat.max;
  const weighted = stat.values.map((value) => [value, 1]);
  const readCount = stat.count - stat.values.length;
  if (stat.read !== null && readCount > 0) weighted.push([stat.read, readCount]);
  weighted.sort((a, b) => a[0] - b[0]);
  const total = weighted.reduce((sum, [, weight]) => sum + weight, 0);
  const rank = Math.ceil(PERCENTILES[agg] * total);
  let seen = 0;
  for (const [value, weight] of weighted) {
    seen += weight;
    if (seen >= rank) return value;
  }
  return null;
}
