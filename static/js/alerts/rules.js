// The rules section: the list with each rule's series, condition and timing; enable/disable, edit, preview
// (what the saved rule says now) and delete. The form itself is rule_form.js.
import { element, row, setText } from "../dom.js";
import { deleteJson, getJson, patchJson, postJson } from "../dashboard/api.js";
import { formatDuration, labelChips, writeButton } from "./common.js";
import { RuleForm, renderPreview } from "./rule_form.js";

const CLEARS = { ">": "<", ">=": "<", "<": ">", "<=": ">" };

/** "avg of cpu over 5m > 90 (clears < 80), ÷ same window 1w ago" in words a reader can check. */
export function describeCondition(rule, aggregations) {
  const series = aggregations === null ? rule.metric : `${rule.aggregation} of ${rule.metric}`;
  let text = `${series} over ${formatDuration(rule.window_seconds)}`;
  if (rule.compare_offset_seconds) text += ` ÷ same window ${formatDuration(rule.compare_offset_seconds)} ago`;
  text += ` ${rule.comparator} ${rule.threshold}`;
  if (rule.recovery_threshold !== null) text += `, clears ${CLEARS[rule.comparator]} ${rule.recovery_threshold}`;
  return text;
}

function describeTiming(rule) {
  const parts = [`for ${formatDuration(rule.for_seconds)}`];
  if (rule.keep_firing_for_seconds) parts.push(`keep firing ${formatDuration(rule.keep_firing_for_seconds)}`);
  return parts.join(", ");
}

export class RulesSection {
  constructor(root, page) {
    this.root = root;
    this.page = page;
    this.body = root.querySelector("tbody");
    this.result = root.querySelector("[data-result]");
    this.previewBox = root.querySelector("[data-saved-preview]");
    this.rules = [];
    this.form = new RuleForm(root.querySelector("#rule-form"), page, {
      onSaved: (rule) => { setText(this.result, `Saved rule “${rule.name}”.`); this.load(); } });
    root.querySelector("[data-new]").addEventListener("click", () => this.form.open());
  }

  async load() {
    this.rules = (await getJson("alert-rules")).rules;
    this.render();
  }

  render() {
    this.body.replaceChildren(...this.rules.map((rule) => this.entry(rule)));
    if (!this.rules.length) this.body.append(row(["No rules yet.", "", "", "", "", "", ""]));
  }

  entry(rule) {
    const source = this.page.options.sources[rule.source];
    const series = element("span", `${rule.source} · ${rule.metric}`);
    const filters = labelChips(rule.filters);
    const grouped = rule.group_by.length ? element("small", ` per ${rule.group_by.join(", ")}`, "muted") : "";
    const seriesCell = element("div");
    seriesCell.append(series, grouped, filters);
    const tr = row([element("strong", rule.name), seriesCell, describeCondition(rule, source?.aggregations ?? null),
      describeTiming(rule), element("span", rule.severity, `badge severity-${rule.severity}`), this.toggle(rule),
      this.actions(rule)]);
    tr.dataset.ruleId = rule.id;
    tr.classList.toggle("disabled-rule", !rule.enabled);
    return tr;
  }

  toggle(rule) {
    const label = element("label", null, "check");
    const input = Object.assign(element("input"), { type: "checkbox", checked: rule.enabled, disabled: !this.page.canManage });
    input.setAttribute("role", "switch");
    input.setAttribute("aria-label", `${rule.name} enabled`);
    input.addEventListener("change", () => this.setEnabled(rule, input));
    label.append(input, element("span", rule.enabled ? "on" : "off"));
    return label;
  }

  actions(rule) {
    const cell = element("span", null, "actions");
    cell.append(
      writeButton(this.page, "Edit", () => this.form.open(rule)),
      writeButton(this.page, "Preview", () => this.preview(rule)),  // a POST, so admin-only like every write
      writeButton(this.page, "Delete", () => this.remove(rule), "small danger"),
    );
    return cell;
  }

  async setEnabled(rule, input) {
    const saved = await this.page.guarded(() => patchJson(`alert-rules/${rule.id}`, { enabled: input.checked }),
      `Could not ${input.checked ? "enable" : "disable"} “${rule.name}”`);
    if (!saved) input.checked = rule.enabled;
    else setText(this.result, `${saved.rule.enabled ? "Enabled" : "Disabled"} “${rule.name}”.`);
    await this.load();
  }

  async preview(rule) {
    const answer = await this.page.guarded(() => postJson(`alert-rules/${rule.id}/preview`), "Could not preview");
    if (answer) renderPreview(this.previewBox, answer, rule, `Preview of “${rule.name}” now`);
  }

  async remove(rule) {
    if (!window.confirm(`Delete the rule “${rule.name}”? Its alerts stay, without a rule.`)) return;
    const done = await this.page.guarded(async () => { await deleteJson(`alert-rules/${rule.id}`); return true; },
      `Could not delete “${rule.name}”`);
    if (done) setText(this.result, `Deleted rule “${rule.name}”.`);
    await this.load();
  }
}
