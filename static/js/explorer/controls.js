// The explorer's form: its options built from metrics/names (a name's tag keys and their most frequent
// values), set from a view and read back into one. A value in the URL that names no longer list (a quiet
// metric, a rare tag value) is still offered, so a bookmarked view opens as it was saved.
import { button, element } from "../dom.js";
import { AGGREGATIONS, BUCKETS, RANGES } from "./view.js";

function fill(select, options, selected) {
  const values = options.map(([value]) => value);
  const all = selected && !values.includes(selected) ? [...options, [selected, selected]] : options;
  select.replaceChildren(...all.map(([value, label]) => {
    const option = element("option", label);
    option.value = value;
    return option;
  }));
  select.value = selected ?? "";
}

export class ExplorerControls {
  /** onChange(view) whenever the user changes anything. */
  constructor(form, onChange) {
    this.form = form;
    this.rows = form.querySelector("[data-filter-rows]");
    this.names = new Map();
    this.onChange = onChange;
    form.addEventListener("change", () => this.changed());
    form.addEventListener("submit", (event) => event.preventDefault());
    form.querySelector("[data-add-filter]").addEventListener("click", () => {
      const [key] = this.tagKeys();
      this.addRow(key ?? "", "");
    });
  }

  /** metrics/names' list, and the view to show on it. */
  show(names, view) {
    this.names = new Map(names.map((entry) => [entry.name, entry]));
    this.shownName = view.name;
    const field = (name) => this.form.elements.namedItem(name);
    fill(field("name"), names.map((entry) => [entry.name, `${entry.name} (${entry.points_last_hour} in the last hour)`]),
      view.name);
    fill(field("agg"), AGGREGATIONS.map((agg) => [agg, agg]), view.agg);
    fill(field("bucket"), BUCKETS.map((bucket) => [bucket, bucket === "auto" ? "auto (by range)" : bucket]), view.bucket);
    fill(field("minutes"), RANGES.map(([minutes, label]) => [String(minutes), label]), String(view.minutes));
    this.showTags(view);
  }

  showTags(view) {
    fill(this.form.elements.namedItem("group_by"), [["", "nothing"], ...this.tagKeys(view.name).map((key) => [key, key])],
      view.groupBy);
    this.rows.replaceChildren();
    for (const [key, value] of Object.entries(view.filters)) this.addRow(key, value);
  }

  tagKeys(name = this.form.elements.namedItem("name").value) {
    return Object.keys(this.names.get(name)?.tags ?? {});
  }

  addRow(key, value) {
    const row = element("div", null, "filter-row");
    const keySelect = element("select");
    keySelect.dataset.filterKey = "";
    keySelect.setAttribute("aria-label", "Tag");
    const valueSelect = element("select");
    valueSelect.dataset.filterValue = "";
    valueSelect.setAttribute("aria-label", "Value");
    fill(keySelect, this.tagKeys().map((tag) => [tag, tag]), key);
    const values = () => (this.names.get(this.form.elements.namedItem("name").value)?.tags?.[keySelect.value] ?? [])
      .map((entry) => [entry.value, `${entry.value} (${entry.points})`]);
    fill(valueSelect, values(), value);
    keySelect.addEventListener("change", () => fill(valueSelect, values(), null));
    row.append(keySelect, element("span", "=", "muted"), valueSelect,
      button("Remove", () => { row.remove(); this.changed(); }));
    this.rows.append(row);
    if (!value && valueSelect.value) this.changed();
  }

  /** The view the form shows now. */
  read() {
    const field = (name) => this.form.elements.namedItem(name).value;
    const filters = {};
    for (const row of this.rows.children) {
      const key = row.querySelector("[data-filter-key]").value;
      const value = row.querySelector("[data-filter-value]").value;
      if (key) filters[key] = value;
    }
    return { name: field("name"), agg: field("agg"), bucket: field("bucket"), minutes: Number(field("minutes")),
      groupBy: field("group_by"), filters };
  }

  changed() {
    const view = this.read();
    if (view.name !== this.shownName) {
      // Another metric has other tags: its filters and grouping start empty.
      this.shownName = view.name;
      view.groupBy = "";
      view.filters = {};
      this.showTags(view);
    }
    this.onChange(view);
  }
}
