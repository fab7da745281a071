// Alert instances: the list (state colours, value against threshold, since when, silenced / acknowledged /
// flapping marks), kept current by `alert` pushes, and the selected instance with its history. The selected
// instance is in the address (?alert=<id>), which is where webhooks' generatorURL points.
import { button, element, formatTime, row, setText } from "../dom.js";
import { getJson, postJson, withQuery } from "../dashboard/api.js";
import { formatAgo, formatValue, labelChips, stateBadge, writeButton } from "./common.js";

const ORDER = { firing: 0, pending: 1, recovering: 2, error: 3, nodata: 4, resolved: 5 };
const ACKNOWLEDGEABLE = ["pending", "firing", "recovering"];
const LIMIT = 200;

function nameOf(alert) {
  return alert.rule_name || alert.labels?.alertname || `alert ${alert.id}`;
}

function marks(alert) {
  const cell = element("span", null, "marks");
  if (alert.silenced) cell.append(element("span", "silenced", "badge mark-silenced"));
  if (alert.acknowledged_by) {
    const acknowledged = element("span", `ack · ${alert.acknowledged_by}`, "badge mark-acknowledged");
    acknowledged.title = `acknowledged by ${alert.acknowledged_by} at ${formatTime(alert.acknowledged_at)}`;
    cell.append(acknowledged);
  }
  if (alert.flapping) cell.append(element("span", "flapping", "badge mark-flapping"));
  return cell;
}

function since(iso) {
  const node = element("time", formatAgo(iso), "ago");
  if (iso) {
    node.dateTime = iso;
    node.title = formatTime(iso);
  }
  return node;
}

export class InstancesSection {
  /** `onSilence(alert)` opens the silence form for an instance's labels. */
  constructor(root, page, { onSilence }) {
    this.page = page;
    this.onSilence = onSilence;
    this.body = root.querySelector("tbody");
    this.summary = root.querySelector("[data-summary]");
    this.filter = root.querySelector("[data-state-filter]");
    this.detail = root.querySelector("[data-detail]");
    this.alerts = new Map();
    this.selected = null;
    this.filter.addEventListener("change", () => page.guarded(() => this.load(), "Could not load alerts"));
    this.detail.querySelector("[data-close]").addEventListener("click", () => this.select(null));
  }

  async load() {
    const { alerts } = await getJson(withQuery("alerts", { state: this.filter.value, limit: LIMIT }));
    this.alerts = new Map(alerts.map((alert) => [alert.id, alert]));
    this.render();
  }

  /** Apply pushed instance bodies; the selected one also re-reads its history. */
  upsert(items) {
    for (const alert of items) {
      if (this.filter.value && alert.state !== this.filter.value) this.alerts.delete(alert.id);
      else this.alerts.set(alert.id, alert);
    }
    this.render();
    const selected = items.find((alert) => alert.id === this.selected);
    if (selected) this.page.guarded(() => this.showDetail(selected.id), "Could not load the alert's history");
  }

  render() {
    const sorted = [...this.alerts.values()].sort((a, b) => (ORDER[a.state] ?? 9) - (ORDER[b.state] ?? 9)
      || Date.parse(b.state_since ?? 0) - Date.parse(a.state_since ?? 0));
    this.body.replaceChildren(...sorted.map((alert) => this.entry(alert)));
    if (!sorted.length) this.body.append(row(["No alerts.", "", "", "", "", "", ""]));
    const firing = sorted.filter((alert) => alert.state === "firing").length;
    const pending = sorted.filter((alert) => alert.state === "pending").length;
    setText(this.summary, `${firing} firing · ${pending} pending · ${sorted.length} shown`);
  }

  entry(alert) {
    const title = element("div");
    title.append(element("strong", nameOf(alert)));
    if (alert.message) title.append(element("small", alert.message, "muted block"));
    const tr = row([stateBadge(alert.state), title, labelChips(alert.labels, ["alertname"]),
      `${formatValue(alert.value)} / ${formatValue(alert.threshold)}`, since(alert.state_since), marks(alert),
      this.actions(alert)]);
    tr.dataset.alertId = alert.id;
    tr.dataset.state = alert.state;
    if (alert.id === this.selected) tr.setAttribute("aria-current", "true");
    return tr;
  }

  /** Keep "3m ago" true as time passes, without rebuilding rows (and losing focus). */
  refreshTimes() {
    this.body.querySelectorAll("time.ago").forEach((node) => setText(node, formatAgo(node.dateTime)));
  }

  actions(alert) {
    const cell = element("span", null, "actions");
    cell.append(button("History", () => this.select(alert.id), "small"));
    if (ACKNOWLEDGEABLE.includes(alert.state) && !alert.acknowledged_by) {
      cell.append(writeButton(this.page, "Ack", () => this.acknowledge(alert)));
    }
    cell.append(writeButton(this.page, "Silence", () => this.onSilence(alert)));
    return cell;
  }

  async acknowledge(alert) {
    const answer = await this.page.guarded(() => postJson(`alerts/${alert.id}/ack`), `Could not acknowledge “${nameOf(alert)}”`);
    if (answer) this.upsert([answer.alert]);
  }

  /** Show instance `id` with its history (null closes it), and keep it in the address for links and reloads. */
  async select(id) {
    this.selected = id;
    const url = new URL(window.location.href);
    if (id === null) url.searchParams.delete("alert");
    else url.searchParams.set("alert", String(id));
    window.history.replaceState(null, "", url);
    this.render();
    if (id === null) {
      this.detail.hidden = true;
      return;
    }
    await this.page.guarded(() => this.showDetail(id), "Could not load the alert");
  }

  async showDetail(id) {
    const { alert, history } = await getJson(withQuery(`alerts/${id}/history`, { limit: 200 }));
    if (this.selected !== id) return;
    setText(this.detail.querySelector("[data-title]"), `${nameOf(alert)} · ${alert.state}`);
    this.detail.querySelector("[data-facts]").replaceChildren(...this.facts(alert));
    this.detail.querySelector("[data-history] tbody").replaceChildren(...history.map((change) => row([
      formatTime(change.at), stateBadge(change.from_state), stateBadge(change.to_state), formatValue(change.value),
      change.reason || ""])));
    if (!history.length) this.detail.querySelector("[data-history] tbody").append(row(["No state changes yet.", "", "", "", ""]));
    this.detail.hidden = false;
  }

  facts(alert) {
    const entries = [
      ["State", stateBadge(alert.state)], ["Since", formatTime(alert.state_since)],
      ["Value / threshold", `${formatValue(alert.value)} / ${formatValue(alert.threshold)}`],
      ["Severity", alert.severity], ["Labels", labelChips(alert.labels)], ["Marks", marks(alert)],
      ["Condition met", formatTime(alert.started_at)], ["Fired", formatTime(alert.fired_at)],
      ["Resolved", formatTime(alert.resolved_at)], ["Message", alert.message || "—"],
      ...Object.entries(alert.annotations ?? {}),
    ];
    return entries.flatMap(([term, value]) => {
      const definition = element("dd");
      definition.append(value);
      return [element("dt", term), definition];
    });
  }
}
