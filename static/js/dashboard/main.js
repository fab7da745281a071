// Dashboard entry: first paint from the (server-cached) REST snapshots, then live pushes from realtime.js.
// Panels that pushes do not cover (cache, performance) and sliding windows are re-read on a timer.
import { byId } from "../dom.js";
import { getJson, withQuery } from "./api.js";
import { CachePanel } from "./cache.js";
import { applyTheme, setUpCharts, toMs } from "./charts.js";
import { onRealtimeToggle, setUpExports, setUpRange, setUpRevenueControls, setUpThemeToggle,
  showConnection } from "./controls.js";
import { HeatmapChart } from "./heatmap.js";
import { ActivityFeed, AlertsPanel, firingChange, firingToast, KpiCards, Toasts } from "./panels.js";
import { PerformanceTable } from "./performance.js";
import { PinnedCharts } from "./pins.js";
import { ActivityChart, StatusChart } from "./piecharts.js";
import { RealtimeClient } from "./realtime.js";
import { Annotations, FiringBands, HostChart, RevenueChart, TimelineChart } from "./timecharts.js";

const FAST_POLL_MS = 10000;
const SLOW_POLL_MS = 60000;
const FAST_POLLS = ["cache", "performance"];
// Sliding windows, and revenue charts whose live deltas count late-arriving sales in the current minute.
const SLOW_POLLS = ["flow", "activity", "alerts", "bands", "annotations", "timeline", "revenue"];
// Pushes keep the heatmap's counts; re-reading it (a GROUP BY over days of activity) only moves its window on.
const HOURLY_POLLS = ["heatmap"];
const HOUR_MS = 3600000;
// When a push was cut to a cap (truncated), the panel it feeds is re-read from REST.
const RELOAD_WHEN_TRUNCATED = { live_update: ["live"], metrics: ["host"], transaction: ["flow"],
  activity: ["activity", "heatmap"], alert: ["alerts", "bands"],
  annotation: ["annotations"], metric: ["pins"] };

const root = byId("dashboard");
const errorBox = byId("dashboard-error");
const canManage = root.dataset.role === "admin";
// The first view comes from the server (services/dashboard/reads.py), which preloads exactly what it reads.
const view = { minutes: null, period: root.dataset.period, activityLimit: Number(root.dataset.activityLimit),
  currency: null, live: true };

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

setUpCharts();
const charts = {
  host: new HostChart(byId("chart-host")),
  timeline: new TimelineChart(byId("chart-timeline")),
  revenue: new RevenueChart(byId("chart-revenue")),
  status: new StatusChart(byId("chart-status")),
  activity: new ActivityChart(byId("chart-activity")),
  heatmap: new HeatmapChart(byId("chart-heatmap")),
};
const panels = {
  kpis: new KpiCards(byId("kpis")),
  feed: new ActivityFeed(byId("activity-feed")),
  alerts: new AlertsPanel(byId("alerts-panel"), { canManage, user: root.dataset.user, onError: showError }),
  cache: new CachePanel(byId("cache-panel"), { canManage, onError: showError }),
  performance: new PerformanceTable(byId("performance-panel")),
  toasts: new Toasts(byId("toasts")),
};
const bands = new FiringBands({ host: charts.host, timeline: charts.timeline });
const annotations = new Annotations();
const pinned = new PinnedCharts(byId("pinned-charts"), { onError: showError });
const revenueControls = setUpRevenueControls(byId("chart-revenue"), {
  onPeriod: (period) => { view.period = period; run("revenue"); },
  onCurrency: (currency) => { view.currency = currency; run("revenue"); },
});

const loaders = {
  live: async () => panels.kpis.render(await getJson("metrics/live")),
  host: async () => {
    const { samples, resolution } = await getJson(withQuery("metrics/host", { minutes: view.minutes }));
    charts.host.load(samples, view.minutes, resolution);
  },
  timeline: async () => charts.timeline.load(await getJson(withQuery("analytics/timeline", { minutes: view.minutes })),
    view.minutes),
  revenue: async () => {
    const payload = await getJson(withQuery("analytics/revenue", { period: view.period, currency: view.currency }));
    charts.revenue.load(payload);
    revenueControls.setCurrencies(payload.currencies ?? [], payload.currency);
  },
  flow: async () => charts.status.load(await getJson("transactions/flow")),
  activity: async () => {
    const activity = await getJson(withQuery("user-activity", { minutes: view.minutes, limit: view.activityLimit }));
    charts.activity.load(activity.by_action);
    panels.feed.load(activity.feed);
  },
  heatmap: async () => charts.heatmap.load(await getJson("analytics/activity-heatmap")),
  pins: () => pinned.load(),
  alerts: async () => panels.alerts.load((await getJson("alerts")).alerts),
  bands: async () => bands.load((await getJson(withQuery("alerts/periods", { minutes: view.minutes }))).periods),
  annotations: async () => {
    const start = new Date(Date.now() - view.minutes * 60000).toISOString();
    annotations.load((await getJson(withQuery("annotations", { start, limit: 500 }))).annotations);
  },
  cache: () => panels.cache.refresh(),
  performance: async () => panels.performance.show(await getJson(withQuery("performance/stats", { minutes: view.minutes }))),
};

const running = new Set();

/** Run one loader, at most once at a time; failures show in the error line, not the console. */
async function run(name) {
  if (running.has(name)) return;
  running.add(name);
  try {
    await loaders[name]();
  } catch (error) {
    if (error.status !== 401) showError(`Could not load ${name}: ${error.message}`);
  } finally {
    running.delete(name);
  }
}

const runAll = (names) => Promise.all(names.map(run));

/** The source of an alert's rule, which says the chart its bands go on: named by the periods read, else asked once. */
async function ruleSource(ruleId) {
  if (!bands.sources.has(ruleId)) bands.sources.set(ruleId, (await getJson(`alert-rules/${ruleId}`)).rule.source);
  return bands.sources.get(ruleId);
}

/** An `alert` push: a toast and a new band when an instance starts firing, the band closed when it stops. */
async function applyAlert(item) {
  const change = firingChange(item);
  if (change === "end") bands.end(item);
  if (change !== "start") return;
  panels.toasts.show(firingToast(item));
  try {
    if (item.rule_id !== null) bands.start(item, await ruleSource(item.rule_id));
  } catch (error) {
    if (error.status !== 404) showError(`Could not read the alert's rule: ${error.message}`);
  }
}

function applyLiveUpdate(item, payload) {
  panels.kpis.render(item);
  charts.timeline.applyLive(item, payload.ts);
  if (!charts.revenue.addDelta(item.revenue_delta, toMs(payload.ts))) run("revenue");
}

const handlers = {
  live_update: (items, payload) => items.forEach((item) => applyLiveUpdate(item, payload)),
  metrics: (items) => items.forEach((sample) => charts.host.add(sample)),
  transaction: (items) => charts.status.addTransactions(items),
  activity: (items) => { charts.activity.addActivities(items); charts.heatmap.addActivities(items); panels.feed.prepend(items); },
  alert: (items) => { panels.alerts.upsert(items); items.forEach(applyAlert); },
  notification: (items) => items.forEach((item) => panels.toasts.show(item)),
  annotation: (items) => annotations.apply(items),
  metric: (items) => pinned.fold(items),
};

function onPush(name, payload) {
  handlers[name]?.(payload.items ?? [], payload);
  if (payload.truncated && RELOAD_WHEN_TRUNCATED[name]) runAll(RELOAD_WHEN_TRUNCATED[name]);
  root.dataset.lastSeq = String(payload.seq ?? "");
  root.dataset.pushes = String(Number(root.dataset.pushes ?? 0) + 1);
}

const indicator = byId("connection");
const realtime = new RealtimeClient({
  onEvent: onPush,
  onState: (state) => showConnection(indicator, state),
  onResync: () => {
    // Pushes missed in the gap (or lost with a restarted server's stream) are in the REST snapshots.
    root.dataset.resyncs = String(Number(root.dataset.resyncs ?? 0) + 1);
    runAll(Object.keys(loaders));
  },
});

function poll(names) {
  if (view.live && !document.hidden) runAll(names);
}

function changeRange(minutes) {
  view.minutes = minutes;
  runAll(["host", "timeline", "activity", "performance", "bands", "annotations"]);
}

async function start() {
  view.minutes = setUpRange(byId("range"), changeRange);
  setUpExports(byId("exports"), () => view.minutes);
  setUpThemeToggle(byId("theme-toggle"), applyTheme);
  onRealtimeToggle(byId("realtime-toggle"), (on) => {
    view.live = on;
    if (on) realtime.start();
    else realtime.stop();
  });
  await runAll(Object.keys(loaders));
  realtime.start();
  setInterval(() => poll(FAST_POLLS), FAST_POLL_MS);
  setInterval(() => poll(SLOW_POLLS), SLOW_POLL_MS);
  setInterval(() => poll(HOURLY_POLLS), HOUR_MS);
  document.addEventListener("visibilitychange", () => poll(FAST_POLLS));
}

start();
