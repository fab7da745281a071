// One receiver's delivery log: each webhook call with its attempts, status and last answer; dead letters
// (out of attempts, or refused with a 4xx) can be sent again with Retry.
import { element, formatTime, row, setText } from "../dom.js";
import { getJson, postJson, withQuery } from "../dashboard/api.js";
import { stateBadge, writeButton } from "./common.js";

/** The endpoint's last answer: its error (which names the status code when there was one), else the code. */
export function lastAnswer(delivery) {
  const code = delivery.last_status_code ? `HTTP ${delivery.last_status_code}` : "";
  if (!delivery.last_error) return code || "—";
  return !code || delivery.last_error.includes(String(delivery.last_status_code)) ? delivery.last_error
    : `${code}: ${delivery.last_error}`;
}

export class DeliveryLog {
  constructor(root, page) {
    this.root = root;
    this.page = page;
    this.body = root.querySelector("tbody");
    this.filter = root.querySelector("[data-status-filter]");
    this.receiver = null;
    this.filter.addEventListener("change", () => this.refresh());
    root.querySelector("[data-refresh]").addEventListener("click", () => this.refresh());
    root.querySelector("[data-close]").addEventListener("click", () => this.show(null));
  }

  /** Show `receiver`'s deliveries (null hides the log). */
  async show(receiver) {
    this.receiver = receiver;
    this.root.hidden = receiver === null;
    if (receiver === null) return;
    setText(this.root.querySelector("[data-title]"), `Deliveries to ${receiver.name}`);
    await this.refresh();
  }

  refresh() {
    if (this.receiver === null) return Promise.resolve();
    return this.page.guarded(() => this.load(this.receiver), "Could not load deliveries");
  }

  async load(receiver) {
    const { deliveries } = await getJson(withQuery(`receivers/${receiver.id}/deliveries`, { status: this.filter.value }));
    if (this.receiver !== receiver) return;
    this.body.replaceChildren(...deliveries.map((delivery) => this.entry(delivery)));
    if (!deliveries.length) this.body.append(row(["No deliveries.", "", "", "", "", "", ""]));
  }

  entry(delivery) {
    const retry = delivery.status === "dead" ? writeButton(this.page, "Retry", () => this.retry(delivery)) : "";
    const tr = row([formatTime(delivery.created_at), delivery.kind, stateBadge(delivery.status),
      String(delivery.attempts), element("span", lastAnswer(delivery), "answer"), formatTime(delivery.delivered_at), retry]);
    tr.dataset.deliveryId = delivery.id;
    tr.dataset.status = delivery.status;
    return tr;
  }

  async retry(delivery) {
    await this.page.guarded(() => postJson(`deliveries/${delivery.id}/retry`), "Could not retry the delivery");
    await this.refresh();
  }
}
