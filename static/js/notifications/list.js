// The notifications list: newest first, filtered in the page by level and by text in the title or message.
// Items come from GET notifications (the newest 500) and from `notification` pushes; text only via textContent.
import { element, formatTime } from "../dom.js";

const MAX_ITEMS = 500;

export class NotificationList {
  constructor(section) {
    this.list = section.querySelector("#notification-list");
    this.empty = section.querySelector("[data-empty]");
    this.filters = { level: section.querySelector("[data-filter=level]"), text: section.querySelector("[data-filter=text]") };
    this.items = [];
    for (const input of Object.values(this.filters)) input.addEventListener("input", () => this.render());
  }

  load(items) {
    this.items = items;
    this.render();
  }

  /** Pushed notifications, ahead of the rest; one seen already (a replay) is not shown twice. */
  prepend(items) {
    const known = new Set(this.items.map((item) => item.id));
    const fresh = items.filter((item) => !known.has(item.id)).sort((a, b) => b.id - a.id);
    this.items = [...fresh, ...this.items].slice(0, MAX_ITEMS);
    this.render();
  }

  matches(item) {
    const level = this.filters.level.value;
    const text = this.filters.text.value.trim().toLowerCase();
    return (!level || item.level === level)
      && (!text || `${item.title}\n${item.message ?? ""}`.toLowerCase().includes(text));
  }

  render() {
    const shown = this.items.filter((item) => this.matches(item));
    this.list.replaceChildren(...shown.map(listItem));
    this.empty.hidden = shown.length > 0;
    this.list.dataset.count = String(shown.length);
  }
}

function listItem(item) {
  const node = element("li", null, `notification level-${item.level}`);
  node.dataset.id = String(item.id);
  node.dataset.level = item.level;
  const head = element("div", null, "notification-head");
  head.append(element("span", item.level, "chip"), element("strong", item.title));
  node.append(head);
  if (item.message) node.append(element("p", item.message, "notification-message"));
  node.append(element("small", `${item.created_by ?? "—"} · ${formatTime(item.created_at)}`, "muted"));
  return node;
}
