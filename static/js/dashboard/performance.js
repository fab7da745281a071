// Performance view: per-endpoint request stats, sortable by any column (click a header; again to reverse).
import { element, formatMs, formatNumber, formatRatio, row, setText } from "../dom.js";

const COLUMNS = [
  { key: "endpoint", label: "Endpoint", text: (e) => e.endpoint },
  { key: "method", label: "Method", text: (e) => e.method },
  { key: "count", label: "Requests", text: (e) => formatNumber(e.count) },
  { key: "rps", label: "Req/s", text: (e) => formatNumber(e.rps, 2) },
  { key: "avg_ms", label: "Avg", text: (e) => formatMs(e.avg_ms) },
  { key: "p50_ms", label: "p50", text: (e) => formatMs(e.p50_ms) },
  { key: "p95_ms", label: "p95", text: (e) => formatMs(e.p95_ms) },
  { key: "p99_ms", label: "p99", text: (e) => formatMs(e.p99_ms) },
  { key: "error_rate", label: "Errors", text: (e) => formatRatio(e.error_rate, 2) },
];

function compare(key) {
  return (a, b) => {
    const [x, y] = [a[key], b[key]];
    if (typeof x === "string" || typeof y === "string") return String(x ?? "").localeCompare(String(y ?? ""));
    return (x ?? -Infinity) - (y ?? -Infinity);
  };
}

export class PerformanceTable {
  constructor(root) {
    this.root = root;
    this.table = root.querySelector("table");
    this.summary = root.querySelector("[data-summary]");
    this.sort = { key: "count", descending: true };
    this.endpoints = [];
    this.buildHead();
  }

  buildHead() {
    const tr = document.createElement("tr");
    for (const column of COLUMNS) {
      const th = document.createElement("th");
      th.scope = "col";
      th.dataset.key = column.key;
      const sortButton = element("button", column.label, "sort");
      sortButton.type = "button";
      sortButton.addEventListener("click", () => this.sortBy(column.key));
      th.append(sortButton);
      tr.append(th);
    }
    this.table.tHead.replaceChildren(tr);
  }

  sortBy(key) {
    const same = this.sort.key === key;
    this.sort = { key, descending: same ? !this.sort.descending : !["endpoint", "method"].includes(key) };
    this.render();
  }

  show(stats) {
    this.endpoints = stats.endpoints ?? [];
    const { summary } = stats;
    const overhead = stats.monitor_overhead_us;
    setText(this.summary, summary ? `${formatNumber(summary.count)} requests in ${stats.window_minutes ?? "?"} min · `
      + `p95 ${formatMs(summary.p95_ms)} · errors ${formatRatio(summary.error_rate, 2)}`
      + (overhead ? ` · monitoring adds ${formatNumber(overhead, 0)} µs/request` : "") : "");
    this.render();
  }

  render() {
    const { key, descending } = this.sort;
    const sorted = [...this.endpoints].sort(compare(key));
    if (descending) sorted.reverse();
    for (const th of this.table.tHead.rows[0].cells) {
      th.setAttribute("aria-sort", th.dataset.key === key ? (descending ? "descending" : "ascending") : "none");
    }
    const rows = sorted.map((entry) => {
      const tr = row(COLUMNS.map((column) => column.text(entry)));
      [...tr.cells].forEach((cell, index) => { cell.dataset.label = COLUMNS[index].label; });
      return tr;
    });
    if (!rows.length) rows.push(row(["No requests in this range."]));
    this.table.tBodies[0].replaceChildren(...rows);
    this.root.dataset.sort = `${key}:${descending ? "desc" : "asc"}`;
  }
}
