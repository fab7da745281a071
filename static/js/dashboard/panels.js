// Text panels: KPI cards, the live activity feed, alerts and notification toasts. Everything that came
// from the server goes in through textContent.
import { button, element, formatClock, formatMoney, formatMs, formatNumber, formatPercent, formatRatio,
  formatTime, setText } from "../dom.js";
import { postJson } from "./api.js";

const FEED_LIMIT = 50;
const TOAST_LIMIT = 4;
const TOAST_MS = 6000;
const ALERT_ORDER = { firing: 0, pending: 1, acknowledged: 2, resolved: 3 };

/** A host percentage from either shape: live_update's {cpu: 12.5} or a sample's {cpu: {percent: 12.5}}. */
function hostPercent(host, name) {
  const value = host?.[name];
  return typeof value === "number" ? value : value?.percent ?? null;
}

function level(value, warn, bad, higherIsWorse = true) {
  if (value === null || value === undefined) return "";
  const [w, b] = higherIsWorse ? [value >= warn, value >= bad] : [value <= warn, value <= bad];
  return b ? "bad" : w ? "warn" : "ok";
}

export class KpiCards {
  constructor(root) {
    this.cards = Object.fromEntries([...root.querySelectorAll("[data-kpi]")].map((card) => [card.dataset.kpi, {
      card, value: card.querySelector(".kpi-value"), sub: card.querySelector(".kpi-sub") }]));
  }

  set(name, value, sub, state = "") {
    const entry = this.cards[name];
    if (!entry) return;
    setText(entry.value, value);
    setText(entry.sub, sub ?? "");
    if (entry.card.dataset.level !== state) entry.card.dataset.level = state;
  }

  /** Show a metrics/live snapshot or a live_update item: {kpis, host, performance}. */
  render({ kpis, host, performance }) {
    if (kpis) this.renderBusiness(kpis);
    if (host !== undefined) this.renderHost(host);
    if (performance) this.renderPerformance(performance);
  }

  renderBusiness(kpis) {
    const currency = kpis.revenue_currency;
    const revenue = kpis.revenue_today ?? {};
    const others = Object.keys(revenue).filter((code) => code !== currency);
    this.set("revenue", currency ? formatMoney(revenue[currency], currency, "narrowSymbol") : "—",
      `${currency ?? ""} · ${formatNumber(kpis.transactions_today)} sales${others.length ? ` · +${others.length} more` : ""}`);
    this.cards.revenue.card.title = Object.entries(revenue).map(([code, amount]) => formatMoney(amount, code)).join("\n");
    this.set("tpm", formatNumber(kpis.transactions_per_minute), "in the last minute");
    this.set("success", formatRatio(kpis.success_rate), "completed vs failed, last hour",
      level(kpis.success_rate, 0.95, 0.9, false));
    this.set("users", formatNumber(kpis.active_users), "in the last 5 minutes");
  }

  renderHost(host) {
    const cpu = hostPercent(host, "cpu");
    const memory = hostPercent(host, "memory");
    const load = host?.load1 ?? host?.cpu?.load_avg?.[0];
    this.set("cpu", formatPercent(cpu), load === undefined ? host?.host ?? "" : `load ${formatNumber(load, 2)}`,
      level(cpu, 75, 90));
    this.set("memory", formatPercent(memory), `disk ${formatPercent(hostPercent(host, "disk"))}`, level(memory, 80, 92));
  }

  renderPerformance(performance) {
    this.set("p95", formatMs(performance.p95_ms), `avg ${formatMs(performance.avg_ms)}, last minute`,
      level(performance.p95_ms, 500, 1500));
    this.set("errors", formatRatio(performance.error_rate, 2), `${formatNumber(performance.rps, 1)} req/s`,
      level(performance.error_rate, 0.01, 0.05));
  }
}

export class ActivityFeed {
  constructor(list) {
    this.list = list;
  }

  load(feed) {
    this.list.replaceChildren(...(feed ?? []).slice(0, FEED_LIMIT).map((item) => this.entry(item)));
    this.showEmpty();
  }

  /** Put pushed activities on top, newest first, keeping the list bounded. */
  prepend(items) {
    const sorted = [...items].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    for (const item of sorted) this.list.prepend(this.entry(item));
    while (this.list.children.length > FEED_LIMIT) this.list.lastElementChild.remove();
    this.showEmpty();
  }

  entry(item) {
    const li = element("li", null, "feed-item");
    const time = element("time", formatClock(item.timestamp), "muted");
    if (item.timestamp) time.dateTime = item.timestamp;
    li.append(time, element("span", item.action, "badge"), element("span", item.user_id, "who"),
      element("span", item.path ?? "", "path muted"));
    return li;
  }

  showEmpty() {
    if (!this.list.children.length) this.list.append(element("li", "No activity in this range.", "empty muted"));
    else if (this.list.children.length > 1) this.list.querySelector(".empty")?.remove();
  }
}

export class AlertsPanel {
  constructor(root, { canManage, onError }) {
    this.list = root.querySelector("[data-list]");
    this.count = root.querySelector("[data-count]");
    this.canManage = canManage;
    this.onError = onError;
    this.alerts = new Map();
  }

  load(alerts) {
    this.alerts.clear();
    this.upsert(alerts ?? []);
  }

  upsert(items) {
    for (const alert of items) this.alerts.set(alert.id, alert);
    this.render();
  }

  render() {
    const sorted = [...this.alerts.values()].sort((a, b) => (ALERT_ORDER[a.state] ?? 9) - (ALERT_ORDER[b.state] ?? 9)
      || Date.parse(b.started_at ?? 0) - Date.parse(a.started_at ?? 0)).slice(0, 50);
    const active = sorted.filter((alert) => alert.state === "firing" || alert.state === "pending").length;
    setText(this.count, active ? `${active} active` : "");
    this.list.replaceChildren(...sorted.map((alert) => this.entry(alert)));
    if (!sorted.length) this.list.append(element("li", "No alerts", "empty muted"));
  }

  entry(alert) {
    const li = element("li", null, "alert-item");
    li.dataset.state = alert.state ?? "";
    const head = element("div", null, "alert-head");
    head.append(element("span", alert.state, `badge state-${alert.state}`), element("strong", alert.rule_id ?? "alert"),
      element("span", alert.severity ?? "", "muted"));
    li.append(head, element("p", alert.message ?? "", "alert-message"),
      element("p", `since ${formatTime(alert.started_at)}`, "muted small-text"));
    if (this.canManage && (alert.state === "firing" || alert.state === "pending")) {
      li.append(button("Acknowledge", () => this.acknowledge(alert)));
    }
    return li;
  }

  async acknowledge(alert) {
    try {
      const answer = await postJson(`alerts/${encodeURIComponent(alert.id)}/ack`);
      this.upsert([answer?.alert ?? (answer?.id === alert.id ? answer : { ...alert, state: "acknowledged" })]);
    } catch (error) {
      this.onError(`Could not acknowledge the alert: ${error.message}`);
    }
  }
}

export class Toasts {
  constructor(root) {
    this.root = root;
  }

  /** Show a notification item {title, message, level} for a few seconds. */
  show(notification) {
    const toast = element("div", null, `toast toast-${notification.level ?? "info"}`);
    toast.setAttribute("role", notification.level === "error" ? "alert" : "status");
    const close = button("×", () => toast.remove(), "link toast-close");
    close.setAttribute("aria-label", "Dismiss");
    toast.append(close, element("strong", notification.title ?? "Notification"),
      element("p", notification.message ?? ""));
    this.root.append(toast);
    while (this.root.children.length > TOAST_LIMIT) this.root.firstElementChild.remove();
    setTimeout(() => toast.remove(), TOAST_MS);
  }
}
