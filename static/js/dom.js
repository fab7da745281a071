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
