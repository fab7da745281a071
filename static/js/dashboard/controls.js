// Page controls: connection indicator, real-time switch, time range, revenue period and currency,
// dark mode, and the CSV export links (their time range is filled in when they are used).
import { element, setText } from "../dom.js";
import { apiUrl } from "./api.js";

const RANGE_KEY = "pulseboard.range";
const THEME_KEY = "pulseboard.theme";
const TRANSPORT_NAMES = { websocket: "WebSocket", sse: "SSE" };

/** Show the realtime state: Live · WebSocket, Live · SSE, Offline, or Connecting…. */
export function showConnection(node, { state, transport, retryInMs }) {
  const texts = {
    live: `Live · ${TRANSPORT_NAMES[transport] ?? transport}`,
    connecting: "Connecting…",
    offline: "Offline · reconnecting",
    paused: "Offline · paused",
  };
  node.dataset.state = state;
  node.dataset.transport = transport ?? "";
  setText(node.querySelector("[data-text]"), texts[state] ?? "Offline");
  node.title = retryInMs ? `Next attempt in ${Math.ceil(retryInMs / 1000)} s` : "";
}

export function onRealtimeToggle(input, handler) {
  input.addEventListener("change", () => handler(input.checked));
}

/** The time-range select, remembered across visits; calls `handler(minutes)` on change. */
export function setUpRange(select, handler) {
  const saved = localStorage.getItem(RANGE_KEY);
  if (saved && [...select.options].some((option) => option.value === saved)) select.value = saved;
  select.addEventListener("change", () => {
    localStorage.setItem(RANGE_KEY, select.value);
    handler(Number(select.value));
  });
  return Number(select.value);
}

/** Period buttons (aria-pressed) and the currency select of the revenue chart. */
export function setUpRevenueControls(root, { onPeriod, onCurrency }) {
  const buttons = [...root.querySelectorAll("[data-period]")];
  for (const node of buttons) {
    node.addEventListener("click", () => {
      for (const other of buttons) other.setAttribute("aria-pressed", String(other === node));
      onPeriod(node.dataset.period);
    });
  }
  const currency = root.querySelector("[data-currency]");
  currency.addEventListener("change", () => onCurrency(currency.value || null));
  return {
    /** Offer the currencies that have revenue, keeping the chosen one selected. */
    setCurrencies(codes, chosen) {
      const options = codes.map((code) => { const option = element("option", code); option.value = code; return option; });
      currency.replaceChildren(...options);
      currency.value = chosen ?? "";
      currency.hidden = codes.length < 2;
    },
  };
}

function effectiveTheme() {
  const chosen = document.documentElement.dataset.theme;
  if (chosen) return chosen;
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

/** A button switching light and dark; the choice is kept in localStorage (theme.js applies it early). */
export function setUpThemeToggle(node, onChange) {
  const label = () => {
    const dark = effectiveTheme() === "dark";
    node.setAttribute("aria-pressed", String(dark));
    setText(node, dark ? "Light mode" : "Dark mode");
  };
  node.addEventListener("click", () => {
    const next = effectiveTheme() === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem(THEME_KEY, next);
    label();
    onChange();
  });
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => { label(); onChange(); });
  label();
}

/** Point the export links at the last `minutes()` whenever they are about to be used. */
export function setUpExports(root, minutes) {
  const refresh = () => {
    const end = new Date();
    const start = new Date(end.getTime() - minutes() * 60000);
    for (const link of root.querySelectorAll("a[data-export]")) {
      link.href = apiUrl(`export/${link.dataset.export}.csv`, { start: start.toISOString(), end: end.toISOString() });
    }
  };
  for (const type of ["pointerdown", "focusin", "click"]) root.addEventListener(type, refresh);
  refresh();
  return refresh;
}
