// Silences: the list (pending, active, expired) with an Expire action, and the form — label matchers, a
// duration picker (1 h, 4 h, 1 d or a chosen end) and a comment. An instance's "Silence" opens the form with
// its labels as `=` matchers.
import { element, formatTime, row } from "../dom.js";
import { deleteJson, getJson, postJson } from "../dashboard/api.js";
import { FieldError, clearFieldErrors, openForm, showFieldError, stateBadge, writeButton } from "./common.js";
import { RowsEditor } from "./rows.js";

const OPERATORS = ["=", "!=", "=~", "!~"];
const CUSTOM = "custom";

/** A datetime-local input's value for `date` in local time (the input has no time zone). */
function localInputValue(date) {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}

function matcherChips(matchers) {
  const list = element("span", null, "chips");
  for (const matcher of matchers ?? []) list.append(element("span", `${matcher.name}${matcher.op}${matcher.value}`, "chip"));
  return list;
}

export class SilencesSection {
  constructor(root, page) {
    this.page = page;
    this.body = root.querySelector("tbody");
    this.form = root.querySelector("#silence-form");
    this.endInput = this.form.querySelector('[name="ends_at"]');
    this.choices = [...this.form.querySelectorAll("[data-duration-choice]")];
    this.matchers = new RowsEditor(this.form.querySelector('[data-rows="matchers"]'), [
      { name: "name", label: "label" }, { name: "op", label: "operator", options: OPERATORS },
      { name: "value", label: "value" }], "matcher");
    this.duration = "3600";
    for (const choice of this.choices) choice.addEventListener("click", () => this.chooseDuration(choice.dataset.durationChoice));
    root.querySelector("[data-new]").addEventListener("click", () => this.open([{ op: "=" }]));
    this.form.querySelector("[data-cancel]").addEventListener("click", () => { this.form.hidden = true; });
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.save(); });
  }

  async load() {
    const { silences } = await getJson("silences");
    this.body.replaceChildren(...silences.map((silence) => this.entry(silence)));
    if (!silences.length) this.body.append(row(["No silences.", "", "", "", "", "", ""]));
  }

  entry(silence) {
    const expire = silence.status === "expired" ? ""
      : writeButton(this.page, "Expire", () => this.expire(silence), "small danger");
    const tr = row([matcherChips(silence.matchers), stateBadge(silence.status), formatTime(silence.starts_at),
      formatTime(silence.ends_at), silence.created_by ?? "—", silence.comment || "", expire]);
    tr.dataset.silenceId = silence.id;
    return tr;
  }

  /** Open the form for a silence of the instance `alert`: every label of it as an `=` matcher. */
  openFor(alert) {
    const labels = Object.entries(alert.labels ?? {}).sort(([a], [b]) => a.localeCompare(b));
    this.open(labels.map(([name, value]) => ({ name, op: "=", value })));
    this.form.querySelector('[name="comment"]').focus();
  }

  open(matchers) {
    this.form.reset();  // before the rows are filled: reset would empty their inputs
    clearFieldErrors(this.form);
    this.matchers.set(matchers);
    this.chooseDuration("3600");
    openForm(this.form);
  }

  chooseDuration(choice) {
    this.duration = choice;
    for (const node of this.choices) node.setAttribute("aria-pressed", String(node.dataset.durationChoice === choice));
    this.endInput.hidden = choice !== CUSTOM;
    if (choice === CUSTOM) {
      if (!this.endInput.value) this.endInput.value = localInputValue(new Date(Date.now() + 2 * 3600000));
      this.endInput.focus();
    }
  }

  endsAt(startsAt) {
    if (this.duration !== CUSTOM) return new Date(startsAt.getTime() + Number(this.duration) * 1000);
    const end = new Date(this.endInput.value);
    if (Number.isNaN(end.getTime())) throw new FieldError("ends_at", "choose when the silence ends");
    return end;
  }

  async save() {
    clearFieldErrors(this.form);
    try {
      const startsAt = new Date();
      const body = { matchers: this.matchers.get(), starts_at: startsAt.toISOString(),
        ends_at: this.endsAt(startsAt).toISOString(), comment: this.form.querySelector('[name="comment"]').value.trim() };
      await postJson("silences", body);
    } catch (error) {
      if (error.status !== 401) showFieldError(this.form, error);
      return;
    }
    this.form.hidden = true;
    await this.page.guarded(() => this.load(), "Could not load silences");
  }

  async expire(silence) {
    if (!window.confirm("Expire this silence now? Matching alerts notify again.")) return;
    await this.page.guarded(() => deleteJson(`silences/${silence.id}`), "Could not expire the silence");
    await this.page.guarded(() => this.load(), "Could not load silences");
  }
}
