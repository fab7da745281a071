// The metric explorer page: the view is the URL's query string (opening the URL draws the same chart), drawn by
// an ExplorerPanel that reads the series once per view and per bucket rollover and folds `metric` pushes in.
import { byId, setText } from "../dom.js";
import { getJson, postJson, withQuery } from "../dashboard/api.js";
import { setUpCharts } from "../dashboard/charts.js";
import { showConnection } from "../dashboard/controls.js";
import { RealtimeClient } from "../dashboard/realtime.js";
import { Annotations } from "../dashboard/timecharts.js";
import { ExplorerControls } from "./controls.js";
import { ExplorerPanel } from "./panel.js";
import { queryOfView, titleOfView, viewFromQuery } from "./view.js";

const root = byId("explorer");
const card = byId("explorer-chart");
const errorBox = byId("explorer-error");
const summary = card.querySelector("[data-summary]");
let view = viewFromQuery(window.location.search);
let names = [];
let namesPending = false;

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

setUpCharts();
const panel = new ExplorerPanel(card, {
  onLoad: (payload) => {
    showError("");
    setText(card.querySelector("[data-title]"), titleOfView(view));
    setText(summary, `${payload.series.length} line(s), ${payload.bucket} buckets`);
  },
  onError: (error) => showError(`Could not draw ${view.name}: ${error.message}`),
});
const controls = new ExplorerControls(byId("explorer-controls"), (changed) => {
  view = changed;
  window.history.replaceState(null, "", `?${queryOfView(view)}`);
  panel.show(view);
  loadAnnotations().catch((error) => showError(`Could not load annotations: ${error.message}`));
});

async function loadNames() {
  names = (await getJson("metrics/names")).names;
  if (!view.name && names.length) {
    view = { ...view, name: names[0].name };
    window.history.replaceState(null, "", `?${queryOfView(view)}`);
  }
  controls.show(names, view);
}

// Deploys and incidents other systems marked, drawn on the chart as on every time chart.
const annotations = new Annotations();

async function loadAnnotations() {
  const start = new Date(Date.now() - view.minutes * 60000).toISOString();
  annotations.load((await getJson(withQuery("annotations", { start, limit: 500 }))).annotations);
}

function onPush(name, payload) {
  if (name === "annotation") {
    annotations.apply(payload.items);
    return;
  }
  if (name !== "metric") return;
  const items = payload.items ?? [];
  panel.fold(items);
  root.dataset.pushes = String(Number(root.dataset.pushes ?? 0) + 1);
  // A push cut to the hub's cap left points out: read them instead. A name not listed yet is listed.
  if (payload.truncated) panel.load();
  if (!namesPending && items.some((item) => !names.some((entry) => entry.name === item.name))) {
    namesPending = true;
    loadNames().catch(() => {}).finally(() => { namesPending = false; });
  }
}

card.querySelector("[data-pin]").addEventListener("click", async () => {
  try {
    const query = Object.fromEntries(new URLSearchParams(queryOfView(view)));
    await postJson("explorer/pins", { title: titleOfView(view), view: query });
    setText(summary, "Pinned: it is on your dashboard.");
  } catch (error) {
    showError(`Could not pin this view: ${error.message}`);
  }
});

const realtime = new RealtimeClient({
  // Custom metric points and annotations reach the metrics room (services/realtime/presence.py); SSE asks for both.
  rooms: ["metrics"],
  channels: ["metric", "annotation"],
  onEvent: onPush,
  onState: (state) => showConnection(byId("connection"), state),
  onResync: () => panel.load(),
});

async function start() {
  try {
    await loadNames();
  } catch (error) {
    showError(`Could not list the metrics: ${error.message}`);
  }
  loadAnnotations().catch((error) => showError(`Could not load annotations: ${error.message}`));
  if (view.name) await panel.show(view);
  else setText(summary, "No custom metrics in the last 24 hours: push some to /api/v1/events.");
  realtime.start();
}

start();
