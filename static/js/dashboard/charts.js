// Chart.js plumbing shared by every chart: theme colours, renders coalesced to one per frame without
// animation, zoom and pan on time axes, and read-only state on the card (data-points, data-renders).
// The charts themselves live in timecharts.js (time series) and piecharts.js (shares).
const { Chart } = window;

export const COLORS = {
  cpu: "#3b6fe0", memory: "#1f9d55", disk: "#d97706", revenue: "#6d94f0", p95: "#8b5cf6", errors: "#dc2626",
  completed: "#1f9d55", failed: "#dc2626", pending: "#d97706", refunded: "#8b95a7",
};
export const PALETTE = ["#3b6fe0", "#1f9d55", "#d97706", "#8b5cf6", "#dc2626", "#0891b2", "#db2777", "#65a30d",
  "#8b95a7", "#ca8a04"];

const live = new Set();
const byChart = new WeakMap();
const zoomChanged = ({ chart }) => byChart.get(chart)?.showZoomState();

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

/** A chart on a `.chart-card`; `render()` is cheap to call often: it draws once on the next frame. */
export class LiveChart {
  constructor(card, config) {
    this.card = card;
    this.renders = 0;
    this.pending = false;
    const canvas = card.querySelector("canvas");
    this.chart = new Chart(canvas, config);
    byChart.set(this.chart, this);
    // Hammer (pinch) sets touch-action: none, which would trap a phone's vertical scrolling on the chart.
    if (config.options?.plugins?.zoom) canvas.style.touchAction = "pan-y";
    this.resetButton = card.querySelector("[data-reset-zoom]");
    this.resetButton?.addEventListener("click", () => { this.chart.resetZoom("none"); this.showZoomState(); });
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
    });
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
