// Share charts: transactions by status (doughnut) and user activity by type (polar area). Loaded from REST,
// then moved by pushes; a transaction that changes status moves from one slice to the other.
import { formatNumber, formatRatio, setText } from "../dom.js";
import { COLORS, LiveChart, PALETTE } from "./charts.js";

const STATUSES = ["completed", "failed", "pending", "refunded"];
const MAX_TRACKED_IDS = 5000;
const MAX_ACTIONS = 12;

class ShareChart extends LiveChart {
  /** The slice index of `label`, adding a slice the first time it is seen (up to `max`). */
  slice(label, max = Infinity) {
    const { labels, datasets: [dataset] } = this.chart.data;
    let index = labels.indexOf(label);
    if (index === -1 && labels.length < max) {
      index = labels.push(label) - 1;
      dataset.data.push(0);
      dataset.backgroundColor.push(COLORS[label] ?? PALETTE[index % PALETTE.length]);
    }
    return index;
  }

  setCounts(entries, max) {
    const { datasets: [dataset] } = this.chart.data;
    dataset.data.fill(0);
    for (const [label, count] of entries) {
      const index = this.slice(label, max);
      if (index !== -1) dataset.data[index] = count;
    }
  }

  bump(label, by, max) {
    const index = this.slice(label, max);
    if (index === -1) return;
    const { datasets: [dataset] } = this.chart.data;
    dataset.data[index] = Math.max(0, dataset.data[index] + by);
  }

  total() {
    return this.chart.data.datasets[0].data.reduce((sum, value) => sum + value, 0);
  }
}

function shareOptions(extra = {}) {
  return { plugins: { legend: { position: "bottom" } }, ...extra };
}

export class StatusChart extends ShareChart {
  constructor(card) {
    super(card, {
      type: "doughnut",
      data: { labels: [...STATUSES], datasets: [{ data: STATUSES.map(() => 0), backgroundColor: STATUSES.map((s) => COLORS[s]) }] },
      options: shareOptions({ cutout: "62%" }),
    });
    this.summary = card.querySelector("[data-summary]");
    this.seen = new Map();
  }

  load(flow) {
    this.seen.clear();
    this.setCounts((flow.statuses ?? []).map((entry) => [entry.status, entry.count]));
    this.showSummary();
    this.render();
  }

  /** Count pushed transactions; a repeated id is a status change, never a new transaction. */
  addTransactions(items) {
    for (const item of items) {
      const before = this.seen.get(item.id);
      if (before === item.status) continue;
      if (before) this.bump(before, -1);
      this.bump(item.status, 1);
      this.seen.delete(item.id);
      this.seen.set(item.id, item.status);
      if (this.seen.size > MAX_TRACKED_IDS) this.seen.delete(this.seen.keys().next().value);
    }
    this.showSummary();
    this.render();
  }

  showSummary() {
    const { labels, datasets: [{ data }] } = this.chart.data;
    const count = (status) => data[labels.indexOf(status)] ?? 0;
    const settled = count("completed") + count("failed");
    const rate = settled ? formatRatio(count("completed") / settled) : "—";
    setText(this.summary, `${formatNumber(this.total())} transactions · ${rate} success`);
  }
}

export class ActivityChart extends ShareChart {
  constructor(card) {
    super(card, {
      type: "polarArea",
      data: { labels: [], datasets: [{ data: [], backgroundColor: [] }] },
      options: shareOptions({ scales: { r: { ticks: { display: false } } } }),
    });
    this.summary = card.querySelector("[data-summary]");
  }

  load(byAction) {
    this.setCounts((byAction ?? []).map((entry) => [entry.action, entry.count]), MAX_ACTIONS);
    this.showSummary();
    this.render();
  }

  addActivities(items) {
    for (const item of items) this.bump(item.action, 1, MAX_ACTIONS);
    this.showSummary();
    this.render();
  }

  showSummary() {
    setText(this.summary, `${formatNumber(this.total())} actions in range`);
  }
}
