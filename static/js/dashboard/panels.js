// Text panels: KPI cards, the live activity feed, alerts and notification toasts. Everything that came
// from the server goes in through textContent.
import { button, element, formatClock, formatMoney, formatMs, formatNumber, formatPercent, formatRatio,
  formatTime, setText } from "../dom.js";
import { postJson } from "./api.js";

const FEED_LIMIT = 50;
const TOAST_LIMIT = 4;
const TOAST_MS = 6000;
const ALERT_LIMIT = 50;
const ALERT_ORDER = { firing: 0, recovering: 1, pending: 2, nodata: 3, error: 4, resolved: 5 };
// As services/alerts/alerts.py names them.
const FIRING_STATES = ["firing", "recovering"];
const ACKNOWLEDGEABLE = ["pending", "firing", "recovering"];
const RESOLVED_KEEP_MS = 5 * 60000;
const SILENCE_MS = 3600e3;
// As services/alerts/evaluator.py levels a firing alert's notification.
const TOAST_LEVELS = { critical: "error", warning: "warning", info: "info" };

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

/** How a pushed instance moved across the firing line: "start", "end" or null. */
export function firingChange(alert) {
  const was = FIRING_STATES.includes(alert.previous_state);
  if (alert.state === "firing" && !was) return "start";
  return was && !FIRING_STATES.includes(alert.state) ? "end" : null;
}

/**
 * The toast for an instance that has just started firing; null when it is silenced or flapping (its
 * notifications wait too). Worded as the in-app notification that follows, which Toasts then shows only once.
 */
export function firingToast(alert) {
  if (alert.silenced || alert.flapping) return null;
  return { title: `Firing: ${alert.rule_name}`, message: alert.message, level: TOAST_LEVELS[alert.severity] ?? "warning" };
}

function formatValue(value) {
  if (value === null || value === undefined) return "—";
  return Number(value).toLocaleString(undefined, { maximumFractionDigits: Math.abs(value) < 10 ? 3 : 1 });
}

/** Labels worth showing beside the rule name: alertname and severity are already on the line. */
function labelText(labels) {
  return Object.entries(labels ?? {}).filter(([name]) => name !== "alertname" && name !== "severity")
    .map(([name, value]) => `${name}=${value}`);
}

export class AlertsPanel {
  constructor(root, { canManage, user, onError }) {
    this.list = root.querySelector("[data-list]");
    this.count = root.querySelector("[data-count]");
    this.canManage = canManage;
    this.user = user;
    this.onError = onError;
    this.alerts = new Map();
    this.expiry = null;
  }

  load(alerts) {
    this.alerts.clear();
    this.upsert(alerts ?? []);
  }

  upsert(items) {
    for (const alert of items) this.alerts.set(alert.id, alert);
    this.render();
  }

  /** Forget instances resolved more than a short while ago. */
  dropResolved(now) {
    for (const [id, alert] of this.alerts) {
      if (alert.state === "resolved" && now - Date.parse(alert.resolved_at ?? alert.state_since) > RESOLVED_KEEP_MS) {
        this.alerts.delete(id);
      }
    }
  }

  render() {
    this.dropResolved(Date.now());
    const sorted = [...this.alerts.values()].sort((a, b) => (ALERT_ORDER[a.state] ?? 9) - (ALERT_ORDER[b.state] ?? 9)
      || Date.parse(b.state_since ?? 0) - Date.parse(a.state_since ?? 0)).slice(0, ALERT_LIMIT);
    const firing = sorted.filter((alert) => FIRING_STATES.includes(alert.state)).length;
    const pending = sorted.filter((alert) => alert.state === "pending").length;
    setText(this.count, [firing && `${firing} firing`, pending && `${pending} pending`].filter(Boolean).join(" · "));
    this.list.replaceChildren(...sorted.map((alert) => this.entry(alert)));
    if (!sorted.length) this.list.append(element("li", "No alerts", "empty muted"));
    this.scheduleExpiry(sorted);
  }

  /** Render again when the next resolved instance is due to drop off. */
  scheduleExpiry(sorted) {
    clearTimeout(this.expiry);
    const due = sorted.filter((alert) => alert.state === "resolved")
      .map((alert) => Date.parse(alert.resolved_at ?? alert.state_since) + RESOLVED_KEEP_MS);
    if (due.length) this.expiry = setTimeout(() => this.render(), Math.max(0, Math.min(...due) - Date.now()) + 100);
  }

  entry(alert) {
    const li = element("li", null, "alert-item");
    li.dataset.state = alert.state ?? "";
    li.dataset.alertId = String(alert.id);
    const head = element("div", null, "alert-head");
    head.append(element("span", alert.state, `badge state-${alert.state}`), element("strong", alert.rule_name || "alert"),
      element("span", alert.severity ?? "", `severity severity-${alert.severity}`));
    li.append(head);
    const labels = labelText(alert.labels);
    if (labels.length) li.append(element("p", labels.join(" · "), "alert-labels muted small-text"));
    const summary = alert.annotations?.summary || alert.message;
    if (summary) li.append(element("p", summary, "alert-message"));
    li.append(element("p", `value ${formatValue(alert.value)} · threshold ${formatValue(alert.threshold)} · ${this.since(alert)}`,
      "muted small-text"), this.marks(alert), this.actions(alert));
    return li;
  }

  since(alert) {
    if (alert.state === "firing") return `firing since ${formatTime(alert.fired_at ?? alert.state_since)}`;
    if (alert.state === "recovering") {
      return `fired ${formatTime(alert.fired_at)}, recovering since ${formatTime(alert.state_since)}`;
    }
    return `since ${formatTime(alert.state === "resolved" ? alert.resolved_at ?? alert.state_since : alert.state_since)}`;
  }

  marks(alert) {
    const marks = element("div", null, "alert-marks");
    if (alert.acknowledged_by) {
      const mark = element("span", `Acknowledged by ${alert.acknowledged_by}`, "mark mark-ack");
      mark.title = formatTime(alert.acknowledged_at);
      marks.append(mark);
    }
    if (alert.silenced) marks.append(element("span", "Silenced", "mark mark-silenced"));
    if (alert.flapping) marks.append(element("span", "Flapping", "mark mark-flapping"));
    return marks;
  }

  actions(alert) {
    const row = element("div", null, "alert-actions");
    if (ACKNOWLEDGEABLE.includes(alert.state) && !alert.acknowledged_by) {
      row.append(this.action("Acknowledge", "ack", () => this.acknowledge(alert)));
    }
    if (alert.state !== "resolved" && !alert.silenced) {
      row.append(this.action("Silence 1 h", "silence", (event) => this.silence(alert, event.currentTarget)));
    }
    return row;
  }

  action(label, name, onClick) {
    const node = button(label, onClick);
    node.dataset.action = name;
    if (!this.canManage) {
      node.disabled = true;
      node.title = "Only admins can do this";
    }
    return node;
  }

  async acknowledge(alert) {
    try {
      this.upsert([(await postJson(`alerts/${encodeURIComponent(alert.id)}/ack`)).alert]);
    } catch (error) {
      this.onError(`Could not acknowledge the alert: ${error.message}`);
    }
  }

  /** Silence exactly this instance (its labels as = matchers) for an hour; the `alert` push that follows marks it. */
  async silence(alert, node) {
    const matchers = Object.entries(alert.labels ?? {}).map(([name, value]) => ({ name, op: "=", value: String(value) }));
    try {
      await postJson("silences", { matchers, ends_at: new Date(Date.now() + SILENCE_MS).toISOString(),
        comment: `Silenced from the dashboard by ${this.user}` });
      node.disabled = true;
    } catch (error) {
      this.onError(`Could not silence the alert: ${error.message}`);
    }
  }
}

export class Toasts {
  constructor(root) {
    this.root = root;
  }

  /** Show a notification item {title, message, level} for a few seconds, unless the same one is showing. */
  show(notification) {
    if (!notification) return;
    const key = `${notification.title}\n${notification.message ?? ""}`;
    if ([...this.root.children].some((shown) => shown.dataset.key === key)) return;
    const toast = element("div", null, `toast toast-${notification.level ?? "info"}`);
    toast.dataset.key = key;
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
