// Notifications page entry: the list (live on `notification` pushes) and, for admins, the send form. Viewers see
// the form disabled; the API refuses their writes anyway.
import { byId } from "../dom.js";
import { getJson, postJson } from "../dashboard/api.js";
import { showConnection } from "../dashboard/controls.js";
import { RealtimeClient } from "../dashboard/realtime.js";
import { NotificationList } from "./list.js";

const root = byId("notifications-page");
const errorBox = byId("notifications-error");
const list = new NotificationList(byId("list"));
const form = byId("send-form");

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

async function load() {
  try {
    list.load((await getJson("notifications?limit=500")).notifications);
  } catch (error) {
    if (error.status !== 401) showError(`Could not load notifications: ${error.message}`);
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const fields = new FormData(form);
  try {
    // The push brings it into the list, here as on every other open page.
    await postJson("notifications", { title: fields.get("title"), message: fields.get("message"), level: fields.get("level") });
    form.reset();
    showError("");
  } catch (error) {
    showError(`Not sent: ${error.message}`);
  }
});

const realtime = new RealtimeClient({
  rooms: ["notifications"],
  channels: ["notification"],
  onEvent: (name, payload) => {
    if (name !== "notification") return;
    list.prepend(payload.items ?? []);
    if (payload.truncated) load();
    root.dataset.pushes = String(Number(root.dataset.pushes ?? 0) + 1);
  },
  onState: (state) => showConnection(byId("connection"), state),
  onResync: load,
});

async function start() {
  await load();
  realtime.start();
  root.dataset.ready = "true";
}

start();
