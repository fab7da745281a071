// The rule form: create or edit a rule, with the choices each source offers, and a preview of what the
// unsaved rule would say now (value and state per label set) before it is saved.
import { element, formatTime, row } from "../dom.js";
import { patchJson, postJson } from "../dashboard/api.js";
import { clearFieldErrors, dataTable, fillSelect, formatDuration, formatValue, labelChips, openForm, parseDuration,
  showFieldError, stateBadge } from "./common.js";
import { MapEditor } from "./rows.js";

const LABEL_LIST_ID = "rule-label-names";
const DURATIONS = ["window_seconds", "for_seconds", "keep_firing_for_seconds"];

/**
 * Show a preview answer {evaluated_at, instances: [{labels, value, current, past, state}]} of `rule` in `container`;
 * a rule that compares with the past shows its ratio with both windows' figures.
 */
export function renderPreview(container, answer, rule, title) {
  const comparing = rule.compare_offset_seconds !== null && rule.compare_offset_seconds !== undefined;
  const rows = answer.instances.map((instance) => row([
    labelChips(instance.labels, ["alertname", "severity"]),
    comparing ? `${formatValue(instance.value)} (${formatValue(instance.current)} ÷ ${formatValue(instance.past)})`
      : formatValue(instance.value),
    stateBadge(instance.state),
  ]));
  if (!rows.length) rows.push(row(["no series matches yet: nothing to alert on", "", ""]));
  const table = dataTable(["Labels", comparing ? "Now ÷ then" : "Value", "Would be"], rows, "preview-table");
  container.replaceChildren(element("h3", title), table,
    element("p", `Evaluated ${formatTime(answer.evaluated_at)}; nothing was stored or sent.`, "hint"));
  container.hidden = false;
}

export class RuleForm {
  constructor(form, page, { onSaved }) {
    this.form = form;
    this.page = page;
    this.onSaved = onSaved;
    this.ruleId = null;
    this.control = (name) => form.querySelector(`[name="${name}"]:not([data-metric-text])`);
    this.metricChoice = form.querySelector("[data-metric-choice]");
    this.metricText = form.querySelector("[data-metric-text]");
    this.metricText.setAttribute("aria-label", "custom metric name");
    this.previewBox = form.querySelector("[data-preview-result]");
    this.labelList = Object.assign(element("datalist"), { id: LABEL_LIST_ID });
    form.append(this.labelList);
    this.rows = {
      filters: new MapEditor(form.querySelector('[data-rows="filters"]'), "filter", { keyList: LABEL_LIST_ID }),
      labels: new MapEditor(form.querySelector('[data-rows="labels"]'), "label"),
      annotations: new MapEditor(form.querySelector('[data-rows="annotations"]'), "annotation"),
    };
    this.fillChoices();
    form.addEventListener("submit", (event) => { event.preventDefault(); this.save(); });
    this.control("source").addEventListener("change", () => this.showSource());
    this.control("compare_offset_seconds").addEventListener("change", () => this.showCompareHint());
    form.querySelector("[data-preview]").addEventListener("click", () => this.preview());
    form.querySelector("[data-cancel]").addEventListener("click", () => this.close());
  }

  fillChoices() {
    const { options } = this.page;
    fillSelect(this.control("source"), Object.keys(options.sources));
    fillSelect(this.control("comparator"), options.comparators);
    fillSelect(this.control("severity"), options.severities);
    fillSelect(this.control("nodata_state"), options.nodata_states);
    fillSelect(this.control("error_state"), options.error_states);
  }

  /** Offer the chosen source's metrics (free text for custom metrics), aggregations and label names. */
  showSource() {
    const source = this.page.options.sources[this.control("source").value];
    const custom = source.metrics === null;
    this.metricChoice.hidden = this.metricChoice.disabled = custom;
    this.metricText.hidden = this.metricText.disabled = !custom;
    if (!custom) fillSelect(this.metricChoice, source.metrics);
    const aggregation = this.control("aggregation");
    fillSelect(aggregation, source.aggregations ?? this.page.options.aggregations);
    // Endpoint and business series name their own aggregate (p95, rps, revenue...): nothing to choose.
    aggregation.disabled = source.aggregations === null;
    aggregation.title = aggregation.disabled ? "this source's metric is already an aggregate" : "";
    this.labelList.replaceChildren(...(source.labels ?? []).map((name) => Object.assign(element("option"), { value: name })));
    this.form.querySelector("[data-labels-hint]").textContent = source.labels ? `one of: ${source.labels.join(", ")}`
      : "any tag of the metric";
  }

  showCompareHint() {
    this.form.querySelector("[data-compare-hint]").hidden = !this.control("compare_offset_seconds").value;
  }

  /** Open the form empty (a new rule) or filled with `rule` (editing it). */
  open(rule = null) {
    this.ruleId = rule?.id ?? null;
    this.form.querySelector("[data-legend]").textContent = rule ? `Edit rule “${rule.name}”` : "New rule";
    const blank = { source: "metric", metric: "", name: "", comparator: this.page.options.comparators[0], threshold: "" };
    this.fill({ ...this.page.options.defaults, ...blank, ...rule });
    clearFieldErrors(this.form);
    this.previewBox.hidden = true;
    openForm(this.form);
  }

  close() {
    this.form.hidden = true;
    this.ruleId = null;
  }

  fill(rule) {
    this.control("source").value = rule.source;
    this.showSource();
    (this.metricText.disabled ? this.metricChoice : this.metricText).value = rule.metric;
    for (const name of ["name", "comparator", "severity", "nodata_state", "error_state"]) this.control(name).value = rule[name];
    if (!this.control("aggregation").disabled) this.control("aggregation").value = rule.aggregation;
    this.control("threshold").value = rule.threshold ?? "";
    this.control("recovery_threshold").value = rule.recovery_threshold ?? "";
    for (const name of DURATIONS) this.control(name).value = formatDuration(rule[name]);
    this.control("group_by").value = (rule.group_by ?? []).join(", ");
    this.setCompareOffset(rule.compare_offset_seconds);
    this.control("enabled").checked = rule.enabled;
    for (const [name, editor] of Object.entries(this.rows)) editor.setMap(rule[name]);
  }

  setCompareOffset(seconds) {
    const select = this.control("compare_offset_seconds");
    const value = seconds ? String(seconds) : "";
    if (![...select.options].some((option) => option.value === value)) {
      select.append(Object.assign(element("option", `same window ${formatDuration(seconds)} ago`), { value }));
    }
    select.value = value;
    this.showCompareHint();
  }

  /** The form as a whole rule body (SPEC §9 names); a FieldError when a duration cannot be read. */
  read() {
    const value = (name) => this.control(name).value.trim();
    const number = (name) => (value(name) === "" ? null : Number(value(name)));
    const body = {
      name: value("name"),
      source: value("source"),
      metric: (this.metricText.disabled ? this.metricChoice : this.metricText).value.trim(),
      filters: this.rows.filters.getMap(),
      group_by: value("group_by").split(",").map((name) => name.trim()).filter(Boolean),
      comparator: value("comparator"),
      threshold: number("threshold"),
      recovery_threshold: number("recovery_threshold"),
      compare_offset_seconds: number("compare_offset_seconds"),
      severity: value("severity"),
      nodata_state: value("nodata_state"),
      error_state: value("error_state"),
      enabled: this.control("enabled").checked,
      labels: this.rows.labels.getMap(),
      annotations: this.rows.annotations.getMap(),
    };
    for (const name of DURATIONS) body[name] = parseDuration(value(name), name) ?? 0;
    if (!this.control("aggregation").disabled) body.aggregation = value("aggregation");
    return body;
  }

  async submit(send) {
    clearFieldErrors(this.form);
    try {
      return await send(this.read());
    } catch (error) {
      if (error.status !== 401) showFieldError(this.form, error);
      return null;
    }
  }

  async save() {
    const answer = await this.submit((body) => (this.ruleId === null ? postJson("alert-rules", body)
      : patchJson(`alert-rules/${this.ruleId}`, body)));
    if (!answer) return;
    this.close();
    this.onSaved(answer.rule);
  }

  async preview() {
    let rule = null;
    const answer = await this.submit((body) => { rule = body; return postJson("alert-rules/preview", body); });
    if (answer) renderPreview(this.previewBox, answer, rule, "Preview: what this rule would say now");
  }
}
