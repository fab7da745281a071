// Chart.js plumbing shared by every chart: theme colours, renders coalesced to one per frame without
// animation, zoom and pan on time axes, bands behind the data (firing alerts), and read-only state on the
// card (data-points, data-renders, data-bands, data-bands-open, data-marks).
// Annotations (deploys, incidents) are marks on every chart with a time axis: one list for all of them.
// The charts themselves live in timecharts.js (time series), piecharts.js (shares) and heatmap.js; every one gets a
// "Save PNG" button (chart_image.js).
import { addSaveButton } from "./chart_image.js";

const { Chart } = window;

export const COLORS = {
  cpu: "#3b6fe0", memory: "#1f9d55", disk: "#d97706", revenue: "#6d94f0", p95: "#8b5cf6", errors: "#dc2626",
  completed: "#1f9d55", failed: "#dc2626", pending: "#d97706", refunded: "#8b95a7",
};
export const PALETTE = ["#3b6fe0", "#1f9d55", "#d97706", "#8b5cf6", "#dc2626", "#0891b2", "#db2777", "#65a30d",
  "#8b95a7", "#ca8a04"];

// Alert severities as band colours: translucent fills, labels in the same hue.
const SEVERITY_COLORS = { critical: "220, 38, 38", warning: "217, 119, 6", info: "59, 111, 224" };
const BAND_ALPHA = 0.13;
const BAND_LABEL_MIN_PX = 40;
const BAND_LABEL_LINES = 3;

const MARK_RGB = "100, 116, 139";
const MARK_LABEL_MAX_PX = 160;

const live = new Set();
let marks = []; // {start, end: ms or null, label}
const byChart = new WeakMap();
const zoomChanged = ({ chart }) => byChart.get(chart)?.showZoomState();

/**
 * Our own band plugin (chartjs-plugin-annotation would add 38 KB for this one shape): each LiveChart's
 * `bands` ({start, end: ms or null while open, label, severity}) fill the plot's height behind the datasets,
 * clipped to the plot area, so they follow zoom and pan.
 */
const bandsPlugin = {
  id: "bands",
  beforeDatasetsDraw(chart) {
    const bands = byChart.get(chart)?.bands;
    const { ctx, chartArea: area, scales: { x } } = chart;
    if (!bands?.length || !x) return;
    const spans = bands.map((band) => ({ label: band.label, rgb: SEVERITY_COLORS[band.severity] ?? SEVERITY_COLORS.warning,
      left: Math.max(x.getPixelForValue(band.start), area.left),
      right: Math.min(x.getPixelForValue(band.end ?? Date.now()), area.right) }))
      .filter((span) => span.right >= span.left).sort((a, b) => a.left - b.left);
    ctx.save();
    ctx.beginPath();
    ctx.rect(area.left, area.top, area.width, area.height);
    ctx.clip();
    // Overlapping bands of one severity are filled once: the shade does not darken with their number.
    for (const rgb of Object.values(SEVERITY_COLORS)) fillUnion(ctx, area, spans.filter((span) => span.rgb === rgb), rgb);
    labelSpans(ctx, area, spans);
    ctx.restore();
  },
};

function fillUnion(ctx, area, spans, rgb) {
  ctx.fillStyle = `rgba(${rgb}, ${BAND_ALPHA})`;
  const fill = (left, right) => ctx.fillRect(left, area.top, Math.max(right - left, 2), area.height);
  let from = null;
  let to = null;
  for (const span of spans) {
    if (from !== null && span.left <= to) {
      to = Math.max(to, span.right);
      continue;
    }
    if (from !== null) fill(from, to);
    [from, to] = [span.left, span.right];
  }
  if (from !== null) fill(from, to);
}

/** Each band's name at its left edge, on the first of a few lines where it overlaps no other name. */
function labelSpans(ctx, area, spans) {
  ctx.font = `11px ${Chart.defaults.font.family}`;
  ctx.textBaseline = "top";
  const lineEnds = [];
  for (const span of spans) {
    const width = Math.min(ctx.measureText(span.label).width, span.right - span.left - 6);
    const line = [...Array(BAND_LABEL_LINES).keys()].find((index) => !(lineEnds[index] > span.left));
    if (width < BAND_LABEL_MIN_PX || line === undefined) continue;
    lineEnds[line] = span.left + width + 12;
    ctx.fillStyle = `rgb(${span.rgb})`;
    ctx.fillText(span.label, span.left + 3, area.top + 3 + line * 13, width);
  }
}

/**
 * Annotations over the data: a moment is a dashed line with its text at the foot of the plot, a span a light
 * band from its start to its end. A mark newer than the newest point (but not in the future) sits at the right
 * edge until the data catches up, so a deploy shows the moment it is posted. Each chart counts what it drew.
 */
const marksPlugin = {
  id: "marks",
  afterDatasetsDraw(chart) {
    const owner = byChart.get(chart);
    const { ctx, chartArea: area, scales: { x } } = chart;
    if (!owner) return;
    owner.marksDrawn = x?.type === "time" ? drawMarks(ctx, area, x) : 0;
  },
};

function drawMarks(ctx, area, x) {
  const latest = Math.max(x.max, Date.now());
  const pixel = (ms) => Math.min(Math.max(x.getPixelForValue(ms), area.left), area.right);
  const shown = marks.filter((mark) => mark.start <= latest && (mark.end ?? mark.start) >= x.min);
  ctx.save();
  ctx.beginPath();
  ctx.rect(area.left, area.top, area.width, area.height);
  ctx.clip();
  ctx.font = `11px ${Chart.defaults.font.family}`;
  ctx.textBaseline = "bottom";
  ctx.setLineDash([4, 3]);
  ctx.strokeStyle = `rgb(${MARK_RGB})`;
  ctx.fillStyle = `rgba(${MARK_RGB}, 0.12)`;
  for (const mark of shown.filter((item) => item.end !== null)) {
    const left = pixel(mark.start);
    ctx.fillRect(left, area.top, Math.max(pixel(mark.end) - left, 2), area.height);
  }
  let labelEnd = -Infinity; // names left to right on one line, each only where it overlaps none
  for (const mark of [...shown].sort((a, b) => a.start - b.start)) {
    const left = pixel(mark.start);
    ctx.beginPath();
    ctx.moveTo(left + 0.5, area.top);
    ctx.lineTo(left + 0.5, area.bottom);
    ctx.stroke();
    const width = Math.min(ctx.measureText(mark.label).width, MARK_LABEL_MAX_PX);
    const start = Math.min(left + 3, area.right - width - 2);
    if (start < labelEnd) continue;
    ctx.fillStyle = `rgb(${MARK_RGB})`;
    ctx.fillText(mark.label, start, area.bottom - 2, width);
    labelEnd = start + width + 8;
  }
  ctx.restore();
  return shown.length;
}

/** Draw these annotations ({start, end: ms or null, label}) on every time chart from the next frame on. */
export function setMarks(items) {
  marks = items;
  for (const chart of live) chart.render();
}

/** Chart defaults for live data: no animation, no parsing, the page's font and theme colours. */
export function setUpCharts() {
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.plugins.legend.labels.boxWidth = 12;
  Chart.defaults.plugins.tooltip.intersect = false;
  applyTheme();
}

/** Re-read the CSS variables (after a theme change) and redraw every chart with them. */
export function applyTheme() {
  const style = getComputedStyle(document.documentElement);
  Chart.defaults.color = style.getPropertyValue("--muted").trim() || "#667085";
  Chart.defaults.borderColor = style.getPropertyValue("--border").trim() || "#e3e6eb";
  Chart.defaults.elements.arc.borderColor = style.getPropertyValue("--panel").trim() || "#fff";
  for (const chart of live) chart.render();
}

/** Horizontal zoom (ctrl + wheel, pinch) and pan (drag) within the data, with a reset button on the card. */
export function zoomOptions() {
  return {
    limits: { x: { min: "original", max: "original" } },
    pan: { enabled: true, mode: "x", onPanComplete: zoomChanged },
    zoom: { mode: "x", wheel: { enabled: true, modifierKey: "ctrl" }, pinch: { enabled: true },
      onZoomComplete: zoomChanged },
  };
}

export function timeAxis(unit) {
  return {
    type: "time",
    time: unit ? { unit, tooltipFormat: unit === "hour" ? "PP p" : "PP" } : { tooltipFormat: "PPpp" },
    ticks: { maxRotation: 0, autoSkipPadding: 16 },
    grid: { display: false },
  };
}

/** The config of a zoomable line chart over time, one dataset per line, filled in by the caller: `y` is its
 * value axis, `pointRadius` a number or a scriptable function, `plugins` any plugins beside zoom. */
export function timeLinesConfig({ y, pointRadius = 0, plugins = {} }) {
  return {
    type: "line",
    data: { datasets: [] },
    options: {
      parsing: false, normalized: true,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      elements: { point: { radius: pointRadius, hitRadius: 4 }, line: { borderWidth: 1.5 } },
      scales: { x: timeAxis(), y },
      plugins: { ...plugins, zoom: zoomOptions() },
    },
  };
}

/** A chart on a `.chart-card`; `render()` is cheap to call often: it draws once on the next frame. */
export class LiveChart {
  constructor(card, config) {
    this.card = card;
    this.renders = 0;
    this.pending = false;
    this.bands = [];
    this.marksDrawn = 0;
    const canvas = card.querySelector("canvas");
    this.chart = new Chart(canvas, { ...config, plugins: [...(config.plugins ?? []), bandsPlugin, marksPlugin] });
    byChart.set(this.chart, this);
    // Hammer (pinch) sets touch-action: none, which would trap a phone's vertical scrolling on the chart.
    if (config.options?.plugins?.zoom) canvas.style.touchAction = "pan-y";
    this.resetButton = card.querySelector("[data-reset-zoom]");
    this.resetButton?.addEventListener("click", () => { this.chart.resetZoom("none"); this.showZoomState(); });
    addSaveButton(card, this.chart);
    live.add(this);
  }

  render() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.chart.update("none");
      this.renders += 1;
      this.card.dataset.points = String(this.pointCount());
      this.card.dataset.renders = String(this.renders);
      this.card.dataset.bands = String(this.bands.length);
      this.card.dataset.bandsOpen = String(this.bands.filter((band) => band.end === null).length);
      this.card.dataset.marks = String(this.marksDrawn);
    });
  }

  /** Draw these bands ({start, end, label, severity}) from the next frame on. */
  setBands(bands) {
    this.bands = bands;
    this.render();
  }

  pointCount() {
    return this.chart.data.datasets.reduce((total, dataset) => total + (dataset._data ?? dataset.data).length, 0);
  }

  showZoomState() {
    if (this.resetButton) this.resetButton.hidden = !this.chart.isZoomedOrPanned();
  }
}

/** Drop points older than `oldest` (ms) and beyond `max` from the front of a sorted {x, y} array. */
export function trim(points, oldest, max) {
  let drop = 0;
  while (drop < points.length && points[drop].x < oldest) drop += 1;
  drop = Math.max(drop, points.length - max);
  if (drop > 0) points.splice(0, drop);
}

export const toMs = (iso) => (iso ? Date.parse(iso) : Date.now());
