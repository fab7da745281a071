// Time-series charts: host CPU/memory/disk (line), revenue per bucket (bar), and the timeline that puts
// revenue per minute beside p95 latency and error rate. Each keeps its own bounded {x, y} buffers
// (x in ms, pre-parsed) and mutates them in place; the decimation plugin thins long lines when drawn.
// FiringBands puts alert rules' firing periods on the chart that shows each rule's series; Annotations puts
// the marks other systems post (deploys, incidents) on every time chart.
import { formatMoney, setText } from "../dom.js";
import { COLORS, LiveChart, setMarks, timeAxis, timeLinesConfig, toMs, trim, zoomOptions } from "./charts.js";

const MINUTE_MS = 60000;
const MAX_HOST_POINTS = 7200;
const MAX_TIMELINE_POINTS = 1440;
const HOST_METRICS = [["cpu", "CPU"], ["memory", "Memory"], ["disk", "Disk"]];
const PERIOD_UNITS = { hourly: "hour", daily: "day", weekly: "week" };
const RESOLUTION_MS = { raw: 0, "1m": MINUTE_MS, "1h": 60 * MINUTE_MS };
const PERIOD_MS = { hourly: 3600e3, daily: 86400e3, weekly: 7 * 86400e3 };
const DECIMATION = { enabled: true, algorithm: "lttb" };
const MAX_MARK_LABEL = 60;

const percentTicks = { callback: (value) => `${value}%` };
// The chart showing a rule's series, by the rule's source; custom metrics are on no chart here.
const BAND_CHART = { host: "host", endpoint: "timeline", business: "timeline" };

/** One host sample, from metrics/host (flat) or a `metrics` push (nested), as numbers per metric. */
export function hostReading(sample) {
  if (!sample?.ts) return null;
  const value = (flat, nested) => flat ?? nested?.percent ?? (typeof nested === "number" ? nested : null);
  return {
    x: toMs(sample.ts),
    source: `${sample.host ?? "host"} · ${sample.pid ?? "?"}`,
    cpu: value(sample.cpu_percent, sample.cpu),
    memory: value(sample.memory_percent, sample.memory),
    disk: value(sample.disk_percent, sample.disk),
  };
}

export class HostChart extends LiveChart {
  constructor(card) {
    super(card, timeLinesConfig({ y: { min: 0, max: 100, ticks: percentTicks }, plugins: { decimation: DECIMATION } }));
    this.buffers = new Map();
    this.windowMs = 15 * MINUTE_MS;
    this.stepMs = 0;
  }

  /** Replace the series with metrics/host's samples; `resolution` (raw, 1m, 1h) sets the live point spacing. */
  load(samples, minutes, resolution = "raw") {
    this.windowMs = minutes * MINUTE_MS;
    this.stepMs = RESOLUTION_MS[resolution] ?? 0;
    this.buffers.clear();
    this.chart.data.datasets = [];
    for (const sample of samples ?? []) this.append(hostReading(sample));
    this.render();
  }

  add(sample) {
    this.append(hostReading(sample));
    this.render();
  }

  append(reading) {
    if (!reading) return;
    for (const [metric] of HOST_METRICS) {
      const points = this.buffer(metric, reading.source);
      const last = points[points.length - 1];
      if ((last && last.x >= reading.x) || reading[metric] === null || reading[metric] === undefined) continue;
      // Over rolled-up history, live samples keep the history's spacing: the newest point moves until a step passes.
      if (this.stepMs && points.length > 1 && last.x - points[points.length - 2].x < this.stepMs) points.pop();
      points.push({ x: reading.x, y: reading[metric] });
      trim(points, reading.x - this.windowMs, MAX_HOST_POINTS);
    }
  }

  buffer(metric, source) {
    const key = `${metric}|${source}`;
    if (!this.buffers.has(key)) {
      const points = [];
      this.buffers.set(key, points);
      this.chart.data.datasets.push({ label: metric, metric, source, data: points, borderColor: COLORS[metric],
        backgroundColor: COLORS[metric] });
      this.labelSources();
    }
    return this.buffers.get(key);
  }

  labelSources() {
    // Name the process only once samples of several (a cluster) share the chart.
    const sources = new Set(this.chart.data.datasets.map((dataset) => dataset.source));
    for (const dataset of this.chart.data.datasets) {
      const [, label] = HOST_METRICS.find(([metric]) => metric === dataset.metric);
      dataset.label = sources.size > 1 ? `${label} (${dataset.source})` : label;
    }
  }
}

export class TimelineChart extends LiveChart {
  constructor(card) {
    super(card, {
      data: {
        datasets: [
          { type: "bar", label: "Revenue / min", data: [], yAxisID: "y", backgroundColor: COLORS.revenue, order: 3 },
          { type: "line", label: "p95 ms", data: [], yAxisID: "ms", borderColor: COLORS.p95,
            backgroundColor: COLORS.p95, spanGaps: true, order: 1 },
          { type: "line", label: "Errors %", data: [], yAxisID: "pct", borderColor: COLORS.errors,
            backgroundColor: COLORS.errors, spanGaps: true, order: 2 },
        ],
      },
      options: {
        parsing: false, normalized: true,
        interaction: { mode: "index", intersect: false },
        // Dots only while few minutes are shown, so a lone minute with a value is still visible.
        elements: { point: { radius: (context) => (context.dataset.data.length > 90 ? 0 : 2), hitRadius: 4 },
          line: { borderWidth: 1.5 } },
        scales: {
          x: { ...timeAxis(), offset: true },
          y: { beginAtZero: true, position: "left", title: { display: false, text: "revenue" } },
          ms: { beginAtZero: true, position: "right", grid: { display: false }, ticks: { callback: (v) => `${v} ms` } },
          pct: { beginAtZero: true, suggestedMax: 5, position: "right", display: "auto", grid: { display: false }, ticks: percentTicks },
        },
        plugins: { decimation: DECIMATION, zoom: zoomOptions(),
          legend: { labels: { sort: (a, b) => a.datasetIndex - b.datasetIndex } } },
      },
    });
    this.currency = null;
    this.windowMs = 60 * MINUTE_MS;
  }

  get series() {
    const [revenue, p95, errors] = this.chart.data.datasets;
    return { revenue, p95, errors };
  }

  load(payload, minutes) {
    this.windowMs = minutes * MINUTE_MS;
    this.setCurrency(payload?.currency ?? this.currency);
    const points = payload?.points ?? [];
    const { revenue, p95, errors } = this.series;
    revenue.data = points.map((point) => ({ x: toMs(point.minute), y: Number(point.revenue ?? 0) }));
    p95.data = points.map((point) => ({ x: toMs(point.minute), y: point.p95_ms ?? null }));
    errors.data = points.map((point) => ({ x: toMs(point.minute), y: percent(point.error_rate) }));
    this.render();
  }

  setCurrency(currency) {
    this.currency = currency ?? null;
    this.series.revenue.label = currency ? `Revenue / min (${currency})` : "Revenue / min";
  }

  /** Fold one live_update into the current minute, starting a new minute when the clock has moved on. */
  applyLive(update, ts) {
    if (!this.currency && update.kpis?.revenue_currency) this.setCurrency(update.kpis.revenue_currency);
    const minute = Math.floor(toMs(ts) / MINUTE_MS) * MINUTE_MS;
    const { revenue, p95, errors } = this.series;
    const buffers = [revenue, p95, errors].map((dataset) => dataset._data ?? dataset.data);
    const last = buffers[0][buffers[0].length - 1];
    if (last && last.x > minute) return;
    if (!last || last.x < minute) {
      buffers[0].push({ x: minute, y: 0 });
      buffers[1].push({ x: minute, y: null });
      buffers[2].push({ x: minute, y: null });
    }
    buffers[0][buffers[0].length - 1].y += Number(update.revenue_delta?.[this.currency] ?? 0);
    if (update.performance) {
      buffers[1][buffers[1].length - 1].y = update.performance.p95_ms ?? null;
      buffers[2][buffers[2].length - 1].y = percent(update.performance.error_rate);
    }
    for (const points of buffers) trim(points, minute - this.windowMs, MAX_TIMELINE_POINTS);
    this.render();
  }
}

export class RevenueChart extends LiveChart {
  constructor(card) {
    super(card, {
      type: "bar",
      data: { datasets: [{ label: "Revenue", data: [], backgroundColor: COLORS.revenue, borderRadius: 3 }] },
      options: {
        parsing: false, normalized: true,
        scales: { x: { ...timeAxis("hour"), offset: true }, y: { beginAtZero: true } },
        plugins: { legend: { display: false }, zoom: zoomOptions() },
      },
    });
    this.summary = card.querySelector("[data-summary]");
    this.period = "hourly";
    this.currency = null;
  }

  load(payload) {
    this.period = payload.period ?? this.period;
    this.currency = payload.currency ?? null;
    const [dataset] = this.chart.data.datasets;
    dataset.label = this.currency ? `Revenue (${this.currency})` : "Revenue";
    dataset.data = (payload.buckets ?? []).map((bucket) => ({ x: toMs(bucket.start), y: Number(bucket.total) }));
    Object.assign(this.chart.options.scales.x.time, timeAxis(PERIOD_UNITS[this.period]).time);
    this.chart.resetZoom("none");
    this.showZoomState();
    this.showSummary(payload.summary);
    this.render();
  }

  showSummary(summary) {
    if (!summary || !this.currency) {
      setText(this.summary, "No completed revenue in this range.");
      return;
    }
    const peak = summary.peak ? ` · peak ${formatMoney(summary.peak.total, this.currency)}` : "";
    setText(this.summary, `Total ${formatMoney(summary.total, this.currency)} · ${summary.count} sales${peak}`);
  }

  /** Add live revenue to the current bucket; false when the bucket is over and the chart needs a reload. */
  addDelta(delta, nowMs) {
    const amount = Number(delta?.[this.currency] ?? 0);
    if (!amount) return true;
    const [dataset] = this.chart.data.datasets;
    const points = dataset._data ?? dataset.data;
    const last = points[points.length - 1];
    if (!last || nowMs >= last.x + PERIOD_MS[this.period]) return false;
    last.y += amount;
    this.render();
    return true;
  }
}

function percent(ratio) {
  return ratio === null || ratio === undefined ? null : Math.round(ratio * 10000) / 100;
}

/** Firing periods as bands: loaded from alerts/periods, then started and ended by `alert` pushes. */
export class FiringBands {
  constructor(charts) {
    this.charts = charts; // {host, timeline}
    this.periods = [];
    this.sources = new Map(); // rule_id -> source, as alerts/periods (or the rule itself) named them
  }

  /** Replace the periods with alerts/periods' (ISO times; end null while firing). */
  load(periods) {
    this.periods = (periods ?? []).map((period) => ({ alertId: period.alert_id, source: period.source,
      label: period.rule_name, severity: period.severity, start: toMs(period.start),
      end: period.end ? toMs(period.end) : null }));
    for (const period of periods ?? []) this.sources.set(period.rule_id, period.source);
    this.draw();
  }

  /** Open a band for an instance that started firing, on the chart of its rule's `source`. */
  start(alert, source) {
    this.periods.push({ alertId: alert.id, source, label: alert.rule_name, severity: alert.severity,
      start: toMs(alert.fired_at ?? alert.state_since), end: null });
    this.draw();
  }

  /** Close the open band of an instance that stopped firing. */
  end(alert) {
    const open = this.periods.find((period) => period.alertId === alert.id && period.end === null);
    if (!open) return;
    open.end = toMs(alert.resolved_at ?? alert.state_since);
    this.draw();
  }

  draw() {
    for (const [name, chart] of Object.entries(this.charts)) {
      chart.setBands(this.periods.filter((period) => BAND_CHART[period.source] === name));
    }
  }
}

/** Annotations: loaded from GET annotations for the range shown, then added (or dropped) by `annotation` pushes. */
export class Annotations {
  constructor() {
    this.byId = new Map();
  }

  load(items) {
    this.byId.clear();
    this.apply(items);
  }

  /** Annotations pushed as created, or as {id, deleted: true}. */
  apply(items) {
    for (const item of items ?? []) {
      if (item.deleted) this.byId.delete(item.id);
      else this.byId.set(item.id, { start: toMs(item.time), end: item.time_end ? toMs(item.time_end) : null,
        label: item.text.length > MAX_MARK_LABEL ? `${item.text.slice(0, MAX_MARK_LABEL - 1)}…` : item.text });
    }
    setMarks([...this.byId.values()]);
  }
}
