// Alerts page entry: instances (live through the dashboard's realtime client), rules, silences and receivers,
// all through the JSON API. Viewers see every write control disabled; the API refuses their writes anyway.
import { byId } from "../dom.js";
import { showConnection } from "../dashboard/controls.js";
import { RealtimeClient } from "../dashboard/realtime.js";
import { createPage } from "./common.js";
import { InstancesSection } from "./instances.js";
import { ReceiversSection } from "./receivers.js";
import { RulesSection } from "./rules.js";
import { SilencesSection } from "./silences.js";

const AGO_REFRESH_MS = 15000;
const root = byId("alerts-page");
const page = createPage(root, byId("alerts-error"));
const silences = new SilencesSection(byId("silences"), page);
const instances = new InstancesSection(byId("instances"), page, { onSilence: (alert) => silences.openFor(alert) });
const sections = { instances, rules: new RulesSection(byId("rules"), page), silences,
  receivers: new ReceiversSection(byId("receivers"), page) };

const loadAll = () => Promise.all(Object.entries(sections).map(([name, section]) =>
  page.guarded(() => section.load(), `Could not load ${name}`)));

const realtime = new RealtimeClient({
  rooms: ["alerts"],
  channels: ["alert"],
  onEvent: (name, payload) => {
    if (name !== "alert") return;
    instances.upsert(payload.items ?? []);
    // A push cut to a cap left instances out: the list is re-read whole.
    if (payload.truncated) page.guarded(() => instances.load(), "Could not load instances");
    root.dataset.pushes = String(Number(root.dataset.pushes ?? 0) + 1);
  },
  onState: (state) => showConnection(byId("connection"), state),
  // What was missed while the stream could not replay it is in the REST list.
  onResync: () => page.guarded(() => instances.load(), "Could not load instances"),
});

async function start() {
  await loadAll();
  const wanted = Number(new URL(window.location.href).searchParams.get("alert"));
  if (Number.isInteger(wanted) && wanted > 0) {
    await instances.select(wanted);
    byId("instances").scrollIntoView({ block: "start" });
  }
  realtime.start();
  setInterval(() => instances.refreshTimes(), AGO_REFRESH_MS);
  root.dataset.ready = "true";
}

start();
