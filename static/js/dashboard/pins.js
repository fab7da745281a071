// The explorer views this user pinned (explorer/pins), each a small live explorer chart under the dashboard's
// charts, with a link to open it in the explorer and a button to unpin it. `metric` pushes are folded into
// every pinned chart they belong to.
import { button, element, setText } from "../dom.js";
import { ExplorerPanel } from "../explorer/panel.js";
import { titleOfView, viewFromQuery } from "../explorer/view.js";
import { deleteJson, getJson } from "./api.js";

export class PinnedCharts {
  /** `section` holds a `[data-pins]` grid; onError(message) reports a failed read or unpin. */
  constructor(section, { onError }) {
    this.section = section;
    this.grid = section.querySelector("[data-pins]");
    this.onError = onError;
    this.panels = new Map(); // pin id -> ExplorerPanel
  }

  async load() {
    const { pins } = await getJson("explorer/pins");
    for (const panel of this.panels.values()) panel.stop();
    this.panels.clear();
    this.grid.replaceChildren(...pins.map((pin) => this.card(pin)));
    this.section.hidden = pins.length === 0;
    await Promise.all([...this.panels.values()].map((panel) => panel.load()));
  }

  card(pin) {
    const query = new URLSearchParams(pin.view).toString();
    const card = element("section", null, "card chart-card span-6 pinned-chart");
    Object.assign(card.dataset, { pin: String(pin.id), points: "0", renders: "0", folded: "0" });
    const link = element("a", pin.title);
    link.href = `/admin/explorer?${query}`;
    const title = element("h3");
    title.append(link);
    const head = element("header", null, "card-head");
    head.append(title, button("Unpin", () => this.unpin(pin.id, card)));
    const box = element("div", null, "chart-box");
    const canvas = element("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", pin.title);
    box.append(canvas);
    const hint = element("p", null, "hint");
    card.append(head, box, hint);
    const view = viewFromQuery(query);
    const panel = new ExplorerPanel(card, {
      onLoad: (payload) => setText(hint, `${titleOfView(view)} · ${payload.bucket} buckets`),
      onError: (error) => setText(hint, `Could not draw ${view.name}: ${error.message}`),
    });
    panel.view = view;
    this.panels.set(pin.id, panel);
    return card;
  }

  async unpin(id, card) {
    try {
      await deleteJson(`explorer/pins/${id}`);
      this.panels.get(id)?.stop();
      this.panels.delete(id);
      card.remove();
      this.section.hidden = this.panels.size === 0;
    } catch (error) {
      this.onError(`Could not unpin: ${error.message}`);
    }
  }

  /** Fold a `metric` push's items into every pinned chart. */
  fold(items) {
    for (const panel of this.panels.values()) panel.fold(items);
  }

  /** Read every pinned chart again (after a resync, or a push cut short). */
  reload() {
    for (const panel of this.panels.values()) panel.load();
  }
}
