// Small DOM helpers; untrusted text only ever goes in through textContent.
export function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

export function button(label, onClick, className = "small") {
  const node = element("button", label, className);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

export function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.append(cell);
    else td.textContent = cell ?? "—";
    tr.append(td);
  }
  return tr;
}

export function formatTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "never";
}

export function byId(id) {
  return document.getElementById(id);
}

/** Set an element's text only when it changed, so live updates do not churn the DOM. */
export function setText(node, text) {
  const value = text === undefined || text === null ? "—" : String(text);
  if (node && node.textContent !== value) node.textContent = value;
}

export function formatNumber(value, digits = 0) {
  if (value === undefined || value === null || Number.isNaN(Number(value))) return "—";
  return Number(value).toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A fraction (0.94) as a percentage ("94.0%"). */
export function formatRatio(value, digits = 1) {
  return value === undefined || value === null ? "—" : `${formatNumber(value * 100, digits)}%`;
}

/** A value that already is a percentage (44.6) as "44.6%". */
export function formatPercent(value, digits = 1) {
  return value === undefined || value === null ? "—" : `${formatNumber(value, digits)}%`;
}

export function formatMs(value) {
  if (value === undefined || value === null) return "—";
  return `${formatNumber(value, value < 10 ? 1 : 0)} ms`;
}

/** A decimal string amount in its ISO currency: "USD 1,234.50", or "$1,234.50" with display "narrowSymbol". */
export function formatMoney(amount, currency, display = "code") {
  if (amount === undefined || amount === null) return "—";
  const number = Number(amount);
  try {
    return number.toLocaleString(undefined, { style: "currency", currency, currencyDisplay: display });
  } catch {
    return `${currency ?? ""} ${formatNumber(number, 2)}`.trim();
  }
}

export function formatClock(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "—";
}
