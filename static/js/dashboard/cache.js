// Cache panel: per-namespace stats, and Clear (after a confirm) and Preload for admins, with the hit
// rate before the action beside the one now. Viewers see the buttons disabled (the API would answer 403).
import { button, element, formatNumber, formatRatio, row, setText } from "../dom.js";
import { getJson, postJson } from "./api.js";

export class CachePanel {
  constructor(root, { canManage, onError }) {
    this.root = root;
    this.body = root.querySelector("tbody");
    this.totals = root.querySelector("[data-totals]");
    this.result = root.querySelector("[data-result]");
    this.canManage = canManage;
    this.onError = onError;
    this.stats = null;
    this.before = null;
    this.updates = 0;
    this.wireButtons();
  }

  wireButtons() {
    for (const node of this.root.querySelectorAll("[data-action]")) {
      if (node.dataset.action !== "refresh" && !this.canManage) this.disable(node);
    }
    this.root.querySelector("[data-action=clear]").addEventListener("click", () => this.clear(null));
    this.root.querySelector("[data-action=preload]").addEventListener("click", () => this.preload());
    this.root.querySelector("[data-action=refresh]").addEventListener("click", () => this.refresh());
  }

  disable(node) {
    node.disabled = true;
    node.title = "Admins only";
  }

  async refresh() {
    try {
      this.show(await getJson("cache/stats"));
    } catch (error) {
      this.onError(`Could not read cache stats: ${error.message}`);
    }
  }

  show(stats) {
    this.stats = stats;
    const entries = Object.entries(stats.namespaces ?? {});
    this.body.replaceChildren(...entries.map(([name, entry]) => this.namespaceRow(name, entry)));
    const { totals } = stats;
    setText(this.totals, `${formatNumber(totals.size)} entries · hit rate ${formatRatio(totals.hit_rate)}`);
    this.root.dataset.size = String(totals.size);
    this.root.dataset.hits = String(totals.hits);
    this.root.dataset.misses = String(totals.misses);
    this.root.dataset.updates = String(++this.updates);
    this.showComparison();
  }

  namespaceRow(name, entry) {
    const label = element("span", name, "ns-name");
    label.title = `${entry.description ?? ""} (TTL ${entry.ttl} s)`;
    const clear = button("Clear", () => this.clear(name), "small danger");
    if (!this.canManage) this.disable(clear);
    const rate = element("span", formatRatio(entry.hit_rate), "rate");
    rate.append(element("small", `${formatNumber(entry.hits)} of ${formatNumber(entry.hits + entry.misses)}`, "muted"));
    const tr = row([label, `${formatNumber(entry.size)} / ${formatNumber(entry.maxsize)}`, rate, clear]);
    tr.dataset.namespace = name;
    return tr;
  }

  hitRate(stats, namespace) {
    return namespace ? stats?.namespaces?.[namespace]?.hit_rate : stats?.totals?.hit_rate;
  }

  async clear(namespace) {
    const what = namespace ? `the ${namespace} cache` : "every cache";
    if (!window.confirm(`Clear ${what}? The next reads go to the database.`)) return;
    await this.act(namespace, async () => {
      const answer = await postJson("cache/clear", namespace ? { namespace } : {});
      return [`Cleared ${answer.cleared}: ${formatNumber(answer.removed)} entries removed`, answer.stats];
    });
  }

  async preload() {
    await this.act(null, async () => {
      const answer = await postJson("cache/preload");
      return [`Preloaded ${formatNumber(answer.warmed)} dashboard queries in ${answer.seconds} s`, answer.stats];
    });
  }

  async act(namespace, call) {
    const previous = this.stats;
    try {
      const [message, stats] = await call();
      this.before = { namespace, message, rate: this.hitRate(previous, namespace) };
      this.show(stats);
    } catch (error) {
      this.onError(`Cache action failed: ${error.message}`);
    }
  }

  showComparison() {
    if (!this.before) return;
    const { namespace, message, rate } = this.before;
    const scope = namespace ? `${namespace} hit rate` : "hit rate";
    setText(this.result, `${message} · ${scope} before ${formatRatio(rate)}, now ${formatRatio(this.hitRate(this.stats, namespace))}`);
  }
}
