// Activity heatmap: actions by UTC hour of day × day of week over the last days, a matrix chart
// (chartjs-chart-matrix). Loaded from REST, then each pushed activity adds one to the cell of its hour and day.
import { formatNumber, setText } from "../dom.js";
import { LiveChart } from "./charts.js";

const HOURS = [...Array(24).keys()].map((hour) => String(hour).padStart(2, "0"));
const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const CELL_RGB = "59, 111, 224";
const CELL_GAP = 1;

/** The cell of a moment: its UTC hour and its UTC weekday counted from Monday (0) as the server counts them. */
export function cellOf(ms) {
  const moment = new Date(ms);
  return { day: (moment.getUTCDay() + 6) % 7, hour: moment.getUTCHours() };
}

/** Cells fading from grey (no activity) to full blue (the busiest cell, `shade.max`). */
const cellColor = (shade) => ({ raw }) => (raw?.v
  ? `rgba(${CELL_RGB}, ${(0.15 + 0.85 * raw.v / Math.max(shade.max, 1)).toFixed(3)})` : "rgba(139, 149, 167, 0.12)");

const cellSize = (axis, count) => ({ chart }) => {
  const area = chart.chartArea;
  return area ? Math.max(area[axis] / count - CELL_GAP, 1) : 0;
};

export class HeatmapChart extends LiveChart {
  constructor(card) {
    const shade = { max: 0 };
    super(card, {
      type: "matrix",
      data: { datasets: [{ label: "Actions", data: DAYS.flatMap((y) => HOURS.map((x) => ({ x, y, v: 0 }))),
        backgroundColor: cellColor(shade), borderWidth: 0, width: cellSize("width", HOURS.length),
        height: cellSize("height", DAYS.length) }] },
      options: {
        plugins: {
          legend: { display: false },
          tooltip: { intersect: true, callbacks: {
            title: ([item]) => `${item.raw.y} ${item.raw.x}:00–${item.raw.x}:59 UTC`,
            label: (item) => `${formatNumber(item.raw.v)} actions`,
          } },
        },
        scales: {
          x: { type: "category", labels: HOURS, offset: true, grid: { display: false }, ticks: { autoSkipPadding: 6, maxRotation: 0 } },
          // The matrix controller reverses y by default; the week reads from Monday down.
          y: { type: "category", labels: DAYS, offset: true, reverse: false, grid: { display: false } },
        },
      },
    });
    this.shade = shade;
    this.summary = card.querySelector("[data-summary]");
    this.since = 0;
  }

  /** Show the server's matrix ({matrix: [weekday][hour], since, until, days}). */
  load(heatmap) {
    const cells = this.cells();
    heatmap.matrix.forEach((counts, day) => counts.forEach((count, hour) => { cells[day * 24 + hour].v = count; }));
    this.since = Date.parse(heatmap.since);
    const days = Math.round((Date.parse(heatmap.until) - this.since) / 86400000);
    this.card.dataset.range = `last ${days} days (UTC)`;
    this.changed();
  }

  /** Count pushed activities ({timestamp}) in their cells, without asking the server again. */
  addActivities(items) {
    const cells = this.cells();
    for (const item of items) {
      const ms = Date.parse(item.timestamp);
      if (!(ms >= this.since)) continue;
      const { day, hour } = cellOf(ms);
      cells[day * 24 + hour].v += 1;
    }
    this.changed();
  }

  cells() {
    return this.chart.data.datasets[0].data;
  }

  changed() {
    const cells = this.cells();
    this.shade.max = Math.max(0, ...cells.map((cell) => cell.v));
    const total = cells.reduce((sum, cell) => sum + cell.v, 0);
    this.card.dataset.total = String(total);
    setText(this.summary, `${formatNumber(total)} actions · busiest hour ${formatNumber(this.shade.max)}`);
    this.render();
  }
}
