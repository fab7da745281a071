// Receivers: webhooks that hear firing and resolved alerts. The list with Test (a realistic firing payload,
// its outcome shown at once), the delivery log, edit and delete; the form for a new or changed receiver.
import { button, element, row, setText } from "../dom.js";
import { deleteJson, getJson, patchJson, postJson } from "../dashboard/api.js";
import { clearFieldErrors, fillSelect, formatDuration, openForm, parseDuration, showFieldError,
  writeButton } from "./common.js";
import { DeliveryLog, lastAnswer } from "./deliveries.js";

/** Its deliveries by status, dead letters first: "1 dead · 4 delivered". */
function deliveryCounts(receiver) {
  const counts = receiver.deliveries ?? {};
  const cell = element("span", null, "marks");
  for (const status of ["dead", "pending", "delivered"]) {
    if (counts[status]) cell.append(element("span", `${counts[status]} ${status}`, `badge state state-${status}`));
  }
  if (!cell.children.length) cell.append("none yet");
  return cell;
}

function describeSends(receiver) {
  return `${receiver.min_severity} and above${receiver.send_resolved ? ", and resolved" : ", firing only"}`;
}

/** A test delivery's outcome in a sentence: delivered, dead (and why), or still being retried. */
export function describeOutcome(receiver, delivery) {
  const tries = `${delivery.attempts} attempt${delivery.attempts === 1 ? "" : "s"}`;
  const outcome = { delivered: "delivered", dead: "failed for good", pending: "not delivered yet, will retry" };
  return `Test to ${receiver.name}: ${outcome[delivery.status] ?? delivery.status} after ${tries} (${lastAnswer(delivery)}).`;
}

export class ReceiversSection {
  constructor(root, page) {
    this.page = page;
    this.body = root.querySelector("tbody");
    this.result = root.querySelector("[data-result]");
    this.form = root.querySelector("#receiver-form");
    this.editing = null;
    this.log = new DeliveryLog(root.querySelector("[data-deliveries]"), page);
    fillSelect(this.form.querySelector('[name="min_severity"]'), page.options.severities);
    fillSelect(this.form.querySelector('[name="format"]'), page.options.formats);
    root.querySelector("[data-new]").addEventListener("click", () => this.open(null));
    this.form.querySelector("[data-cancel]").addEventListener("click", () => { this.form.hidden = true; });
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.save(); });
  }

  async load() {
    const { receivers } = await getJson("receivers");
    this.body.replaceChildren(...receivers.map((receiver) => this.entry(receiver)));
    if (!receivers.length) this.body.append(row(["No receivers.", "", "", "", "", "", ""]));
  }

  entry(receiver) {
    const actions = element("span", null, "actions");
    actions.append(
      writeButton(this.page, "Test", () => this.test(receiver)),
      button("Deliveries", () => this.log.show(receiver), "small"),
      writeButton(this.page, "Edit", () => this.open(receiver)),
      writeButton(this.page, "Delete", () => this.remove(receiver), "small danger"),
    );
    const tr = row([element("strong", receiver.name), element("span", receiver.url, "url"), receiver.format,
      describeSends(receiver), receiver.repeat_interval_seconds ? `every ${formatDuration(receiver.repeat_interval_seconds)}`
        : "never", deliveryCounts(receiver), actions]);
    tr.dataset.receiverId = receiver.id;
    return tr;
  }

  open(receiver) {
    this.editing = receiver;
    this.form.reset();
    clearFieldErrors(this.form);
    this.form.querySelector("[data-legend]").textContent = receiver ? `Edit receiver “${receiver.name}”` : "New receiver";
    const field = (name) => this.form.querySelector(`[name="${name}"]`);
    if (receiver) {
      for (const name of ["name", "url", "format", "min_severity"]) field(name).value = receiver[name];
      field("send_resolved").checked = receiver.send_resolved;
      field("repeat_interval_seconds").value = formatDuration(receiver.repeat_interval_seconds);
    }
    openForm(this.form);
  }

  read() {
    const field = (name) => this.form.querySelector(`[name="${name}"]`);
    return {
      name: field("name").value.trim(), url: field("url").value.trim(), format: field("format").value,
      min_severity: field("min_severity").value, send_resolved: field("send_resolved").checked,
      repeat_interval_seconds: parseDuration(field("repeat_interval_seconds").value, "repeat_interval_seconds"),
    };
  }

  async save() {
    clearFieldErrors(this.form);
    let answer;
    try {
      const body = this.read();
      answer = await (this.editing ? patchJson(`receivers/${this.editing.id}`, body) : postJson("receivers", body));
    } catch (error) {
      if (error.status !== 401) showFieldError(this.form, error);
      return;
    }
    this.form.hidden = true;
    setText(this.result, `Saved receiver “${answer.receiver.name}”.`);
    await this.page.guarded(() => this.load(), "Could not load receivers");
  }

  async test(receiver) {
    setText(this.result, `Sending a test alert to ${receiver.name}…`);
    const answer = await this.page.guarded(() => postJson(`receivers/${receiver.id}/test`), `Could not test ${receiver.name}`);
    setText(this.result, answer ? describeOutcome(receiver, answer.delivery) : "");
    if (answer) {
      this.result.dataset.status = answer.delivery.status;
      await Promise.all([this.log.show(receiver), this.page.guarded(() => this.load(), "Could not load receivers")]);
    }
  }

  async remove(receiver) {
    if (!window.confirm(`Delete the receiver “${receiver.name}” and its delivery log?`)) return;
    await this.page.guarded(() => deleteJson(`receivers/${receiver.id}`), `Could not delete ${receiver.name}`);
    if (this.log.receiver?.id === receiver.id) await this.log.show(null);
    await this.page.guarded(() => this.load(), "Could not load receivers");
  }
}
