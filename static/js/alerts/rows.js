// Editable rows of small fields: key/value maps (filters, labels, annotations) and silence matchers.
import { button, element } from "../dom.js";

export class RowsEditor {
  /**
   * `columns`: [{name, label, options?, list?}] — a select when `options` is given, else a text input
   * (suggesting `list`'s datalist id); `noun` names a row in the add and remove buttons.
   */
  constructor(container, columns, noun) {
    this.container = container;
    this.columns = columns;
    this.noun = noun;
    this.list = element("div", null, "rows");
    this.add = button(`Add ${noun}`, () => this.append({}).querySelector("input, select").focus());
    container.append(this.list, this.add);
  }

  /** Replace the rows with `entries` (objects keyed by column name). */
  set(entries) {
    this.list.replaceChildren();
    for (const entry of entries) this.append(entry);
  }

  /** The rows as objects; rows whose first field is blank are left out. */
  get() {
    return [...this.list.children].map((rowNode) => Object.fromEntries(this.columns.map((column) => [
      column.name, rowNode.querySelector(`[data-column="${column.name}"]`).value.trim()])))
      .filter((entry) => entry[this.columns[0].name] !== "");
  }

  append(entry) {
    const rowNode = element("div", null, "rows-row");
    for (const column of this.columns) rowNode.append(this.control(column, entry[column.name]));
    const remove = button("×", () => rowNode.remove(), "small link remove");
    remove.setAttribute("aria-label", `Remove ${this.noun}`);
    rowNode.append(remove);
    this.list.append(rowNode);
    return rowNode;
  }

  control(column, value) {
    let node;
    if (column.options) {
      node = element("select");
      node.append(...column.options.map((option) => Object.assign(element("option", option), { value: option })));
    } else {
      node = element("input");
      node.autocomplete = "off";
      node.placeholder = column.label;
      if (column.list) node.setAttribute("list", column.list);
    }
    node.dataset.column = column.name;
    node.setAttribute("aria-label", `${this.noun} ${column.label}`);
    if (value !== undefined && value !== null) node.value = value;
    return node;
  }
}

/** A RowsEditor of name/value pairs read and written as a plain object. */
export class MapEditor extends RowsEditor {
  constructor(container, noun, { keyList } = {}) {
    super(container, [{ name: "key", label: "name", list: keyList }, { name: "value", label: "value" }], noun);
  }

  setMap(map) {
    this.set(Object.entries(map ?? {}).map(([key, value]) => ({ key, value })));
  }

  getMap() {
    return Object.fromEntries(this.get().map(({ key, value }) => [key, value]));
  }
}
