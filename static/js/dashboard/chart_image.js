// Chart images: a "Save PNG" button on every chart card (charts.js adds it to each LiveChart) that downloads the
// chart as Chart.js draws it (toBase64Image) under a header band with the card's title, the range shown and the
// time the image was made, as <chart>-<UTC timestamp>.png. The image is as wide as the chart's canvas.
import { button } from "../dom.js";

const BAND_CSS_PX = 44;
const PADDING_CSS_PX = 10;
const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const madeAt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "long" });

/** Put a "Save PNG" button in the card's header for this Chart.js chart. */
export function addSaveButton(card, chart) {
  const head = card.querySelector(".card-head");
  if (!head) return;
  const save = button("Save PNG", () => savePng(card, chart));
  save.dataset.savePng = "";
  head.append(save);
}

/** Download the card's chart with its header band. */
export async function savePng(card, chart) {
  const made = new Date();
  const canvas = await composeImage(card, chart, made);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `${card.id.replace(/^chart-/, "") || "chart"}-${made.toISOString().slice(0, 19).replace(/:/g, "-")}Z.png`;
  link.click();
  // The download reads the blob after the click returns.
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}

/** A canvas as wide as the chart's: the header band, then the chart on the panel's colour. */
export async function composeImage(card, chart, made) {
  const picture = new Image();
  picture.src = chart.toBase64Image("image/png");
  await picture.decode();
  const ratio = chart.currentDevicePixelRatio || 1;
  const band = Math.round(BAND_CSS_PX * ratio);
  const canvas = document.createElement("canvas");
  canvas.width = chart.canvas.width;
  canvas.height = chart.canvas.height + band;
  const ctx = canvas.getContext("2d");
  const colors = themeColors();
  ctx.fillStyle = colors.panel;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  drawHeader(ctx, ratio, canvas.width, colors, {
    title: card.querySelector("h2")?.textContent.trim() ?? card.id,
    caption: [rangeShown(card, chart), `made ${madeAt.format(made)}`].filter(Boolean).join(" · "),
  });
  ctx.drawImage(picture, 0, band);
  return canvas;
}

function drawHeader(ctx, ratio, width, colors, { title, caption }) {
  const padding = PADDING_CSS_PX * ratio;
  const family = getComputedStyle(document.body).fontFamily;
  const maxWidth = width - 2 * padding;
  ctx.textBaseline = "top";
  ctx.fillStyle = colors.text;
  ctx.font = `600 ${14 * ratio}px ${family}`;
  ctx.fillText(title, padding, 6 * ratio, maxWidth);
  ctx.fillStyle = colors.muted;
  ctx.font = `${11 * ratio}px ${family}`;
  ctx.fillText(caption, padding, 25 * ratio, maxWidth);
}

function themeColors() {
  const style = getComputedStyle(document.documentElement);
  const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  return { panel: read("--panel", "#fff"), text: read("--text", "#1d2433"), muted: read("--muted", "#667085") };
}

/**
 * What the chart covers: the card's own `data-range` when it says, else the time axis as shown (zoom included),
 * else the page's range picker.
 */
function rangeShown(card, chart) {
  if (card.dataset.range) return card.dataset.range;
  const x = chart.scales.x;
  if (x?.type === "time" && Number.isFinite(x.min) && Number.isFinite(x.max)) {
    return `${when.format(x.min)} – ${when.format(x.max)}`;
  }
  const picker = document.getElementById("range");
  return picker ? `last ${picker.selectedOptions[0]?.textContent.trim()}` : "";
}
