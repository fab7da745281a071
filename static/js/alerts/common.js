// What every section of the alerts page shares: the page context (role, form options, the error line),
// write buttons that viewers see disabled, state badges, label chips, durations, and 422s shown by their field.
import { button, element } from "../dom.js";

const UNITS = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const DURATION = /^(\d+(?:\.\d+)?)\s*([smhdw]?)$/i;

/** A problem with one form field, found before sending (the server's 422s name their field the same way). */
export class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

/** The page's shared context: `canManage`, `options` (from the server's validation tables), `guarded(action)`. */
export function createPage(root, errorBox) {
  const page = {
    canManage: root.dataset.role === "admin",
    options: JSON.parse(root.dataset.options),
    showError(message) {
      errorBox.textContent = message;
      errorBox.hidden = false;
    },
    /** Run `action`, showing a failure in the page's error line instead of throwing. */
    async guarded(action, what = "") {
      errorBox.hidden = true;
      try {
        return await action();
      } catch (error) {
        if (error.status !== 401) page.showError(what ? `${what}: ${error.message}` : error.message);
        return undefined;
      }
    },
  };
  return page;
}

/** A button that changes something: viewers get it disabled, with the reason as its tooltip. */
export function writeButton(page, label, onClick, className = "small") {
  const node = button(label, onClick, className);
  if (!page.canManage) {
    node.disabled = true;
    node.title = "Only admins can do this";
  }
  return node;
}

export function stateBadge(state) {
  const badge = element("span", state, `badge state state-${state}`);
  badge.dataset.state = state ?? "";
  return badge;
}

/** `name=value` chips for a label set, leaving out the names in `skip`. */
export function labelChips(labels, skip = []) {
  const list = element("span", null, "chips");
  for (const [name, value] of Object.entries(labels ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    if (!skip.includes(name)) list.append(element("span", `${name}=${value}`, "chip"));
  }
  return list;
}

/** "90s", "5m", "1.5h", "2d", "1w" or a bare number of seconds, as whole seconds; blank is null. */
export function parseDuration(text, field) {
  const trimmed = String(text ?? "").trim();
  if (!trimmed) return null;
  const match = DURATION.exec(trimmed);
  if (!match) throw new FieldError(field, "write a duration such as 30s, 5m, 1h or 1d");
  return Math.round(Number(match[1]) * UNITS[(match[2] || "s").toLowerCase()]);
}

/** Seconds in the largest unit that divides them exactly: 300 → "5m", 90 → "90s". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds === 0) return "0s";
  const [unit, size] = Object.entries(UNITS).reverse().find(([, size]) => seconds % size === 0) ?? ["s", 1];
  return `${seconds / size}${unit}`;
}

/** How long ago an ISO time was, in its largest whole unit ("3m ago"); the exact time belongs in a title. */
export function formatAgo(iso, now = Date.now()) {
  if (!iso) return "—";
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  const [unit, size] = Object.entries(UNITS).reverse().find(([, size]) => seconds >= size) ?? ["s", 1];
  return `${Math.floor(seconds / size)}${unit} ago`;
}

export function formatValue(value) {
  if (value === null || value === undefined) return "no data";
  return Number(value).toLocaleString(undefined, { maximumFractionDigits: Math.abs(value) < 10 ? 4 : 2 });
}

/** A compact table with `headers` over `rows` (tr elements). */
export function dataTable(headers, rows, className = "") {
  const table = element("table", null, `table compact ${className}`.trim());
  table.createTHead().insertRow().append(...headers.map((label) => element("th", label)));
  table.createTBody().append(...rows);
  return table;
}

/** Clear the messages a previous submit left beside a form's fields. */
export function clearFieldErrors(form) {
  form.querySelectorAll(".field-error[data-for]").forEach((node) => node.remove());
  form.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
  const general = form.querySelector("[data-form-error]");
  if (general) general.hidden = true;
}

/**
 * Show a failed save beside the field it names (a FieldError, or a 422 whose details name a field); anything
 * else goes to the form's own error line. Returns nothing: the form stays open for a correction.
 */
export function showFieldError(form, error) {
  const field = error.field ?? error.body?.error?.details?.field;
  const wrapper = field ? form.querySelector(`[data-field="${CSS.escape(field)}"]`) : null;
  if (!wrapper) {
    const general = form.querySelector("[data-form-error]");
    general.textContent = error.message;
    general.hidden = false;
    return;
  }
  const message = element("span", error.message, "field-error");
  message.dataset.for = field;
  message.id = `${form.id}-${field}-error`;
  message.setAttribute("role", "alert");
  wrapper.append(message);
  const control = wrapper.querySelector("input:not([disabled]), select:not([disabled])");
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.setAttribute("aria-describedby", message.id);
    control.focus();
  }
}

/** Fill a select with `values` (or [value, label] pairs), keeping its current choice when still offered. */
export function fillSelect(select, values) {
  const current = select.value;
  select.replaceChildren(...values.map((entry) => {
    const [value, label] = Array.isArray(entry) ? entry : [entry, entry];
    const option = element("option", label);
    option.value = value;
    return option;
  }));
  if (values.some((entry) => (Array.isArray(entry) ? entry[0] : entry) === current)) select.value = current;
}

/** Show `form` in place of nothing, scrolled into view, with its first field focused. */
export function openForm(form) {
  form.hidden = false;
  form.scrollIntoView({ block: "nearest" });
  form.querySelector("input:not([hidden]):not([disabled]), select:not([disabled])")?.focus();
}
