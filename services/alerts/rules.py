"""Alert rules (SPEC §9): a rule body validated field by field, the rule as JSON, and which fields make its condition.

Each limit is stated once, in the FIELDS table: `read_fields` enforces it and `body_schema` renders it for the OpenAPI
document, so what the document promises is what the API accepts. Callers commit.
"""
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from database import AlertRule
from services.alerts import series
from services.alerts.alerts import stamp
from services.alerts.body_fields import Choice, FieldError, Flag, Form, Names, Number, StringMap, Text
from services.analytics.metric_queries import AGGREGATIONS
from services.ingest.event_schema import MAX_METRIC_NAME, MAX_TAG_VALUE, MAX_TAGS, METRIC_NAME

SOURCES = tuple(series.SOURCES)
COMPARATORS = (">", ">=", "<", "<=")
SEVERITIES = ("info", "warning", "critical")
# What an instance with no points in its window (`nodata`) or a failed evaluation (`error`) counts as.
NODATA_STATES = ("nodata", "firing", "ok")
ERROR_STATES = ("error", "firing", "ok")
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")  # Alertmanager's label names
RESERVED_LABELS = ("alertname", "severity")  # every instance gets them from the rule's name and severity
MAX_THRESHOLD = 1e15
MAX_GROUP_BY = 8
MAX_LABELS = 16
MAX_ANNOTATIONS = 8
MAX_ANNOTATION = 2000
DAY = 86400
REQUIRED = ("name", "source", "metric", "comparator", "threshold")
# Changing any of these changes what the rule's instances measured: their state no longer holds.
CONDITION_FIELDS = ("source", "metric", "filters", "group_by", "aggregation", "window_seconds", "comparator",
                    "threshold", "recovery_threshold", "compare_offset_seconds")


FIELDS = {
    "name": Text(120),
    "source": Choice(SOURCES),
    "metric": Text(MAX_METRIC_NAME, METRIC_NAME, "be a metric name: letters, digits, _ : . - (a letter, _ or : first)"),
    "filters": StringMap(MAX_TAGS, MAX_TAG_VALUE),
    "group_by": Names(MAX_GROUP_BY),
    "aggregation": Choice(AGGREGATIONS),
    "window_seconds": Number(10, 7 * DAY, integer=True),
    "comparator": Choice(COMPARATORS),
    "threshold": Number(-MAX_THRESHOLD, MAX_THRESHOLD),
    "recovery_threshold": Number(-MAX_THRESHOLD, MAX_THRESHOLD),
    "for_seconds": Number(0, DAY, integer=True),
    "keep_firing_for_seconds": Number(0, DAY, integer=True),
    "compare_offset_seconds": Number(60, 35 * DAY, integer=True),
    "severity": Choice(SEVERITIES),
    "labels": StringMap(MAX_LABELS, MAX_TAG_VALUE, LABEL_NAME),
    "annotations": StringMap(MAX_ANNOTATIONS, MAX_ANNOTATION, LABEL_NAME),
    "nodata_state": Choice(NODATA_STATES),
    "error_state": Choice(ERROR_STATES),
    "enabled": Flag(),
}
NULLABLE = ("recovery_threshold", "compare_offset_seconds")
DEFAULTS = {"filters": {}, "group_by": [], "aggregation": "avg", "window_seconds": 60, "recovery_threshold": None,
            "for_seconds": 0, "keep_firing_for_seconds": 0, "compare_offset_seconds": None, "severity": "warning",
            "labels": {}, "annotations": {}, "nodata_state": "nodata", "error_state": "error", "enabled": True}


FORM = Form("rule", FIELDS, REQUIRED, NULLABLE, DEFAULTS)


def read_fields(body: dict, partial: bool) -> dict:
    """Each field checked alone (type, range, choice), else a FieldError naming it; a whole rule (`partial=False`)
    takes DEFAULTS for what it omits. The checks between fields need the rule: `create_rule`, `update_rule`."""
    return FORM.read(body, partial)


def check_together(rule: dict) -> None:
    """The rules between fields: the series its source offers, and a recovery on the clearing side."""
    try:  # the metric, aggregation, filters and group_by a source offers are the series module's to say
        series.check(series.SeriesQuery.of(rule))
    except series.SeriesError as error:
        raise FieldError(error.field, error.reason) from None
    if set(rule["labels"]) & set(RESERVED_LABELS):
        raise FieldError("labels", f"{' and '.join(RESERVED_LABELS)} come from the rule's name and severity")
    recovery = rule["recovery_threshold"]
    if recovery is not None and (recovery > rule["threshold"] if rule["comparator"].startswith(">")
                                 else recovery < rule["threshold"]):
        side = "at most" if rule["comparator"].startswith(">") else "at least"
        raise FieldError("recovery_threshold", f"with {rule['comparator']}, recovery_threshold must be {side} the threshold")
    offset = rule["compare_offset_seconds"]
    if offset is not None and offset < rule["window_seconds"]:
        raise FieldError("compare_offset_seconds", "compare_offset_seconds must be at least window_seconds")


def condition_changes(rule: AlertRule, changes: dict) -> list[str]:
    """The CONDITION_FIELDS a change alters: the rule's instances then measured something else and start afresh."""
    return [name for name in CONDITION_FIELDS if name in changes and changes[name] != getattr(rule, name)]


def create_rule(session: Session, fields: dict, created_by: str) -> AlertRule:
    """Save a whole rule from `read_fields(body, partial=False)`."""
    check_together(fields)
    rule = AlertRule(**fields, created_by=created_by)
    session.add(rule)
    session.flush()
    return rule


def update_rule(session: Session, rule: AlertRule, changes: dict) -> list[str]:
    """Apply `read_fields(body, partial=True)`; returns the condition fields it changed (see condition_changes)."""
    if not changes:
        raise FORM.nothing_to_change()
    check_together(as_dict(rule) | changes)
    altered = condition_changes(rule, changes)
    for name, value in changes.items():
        setattr(rule, name, value)
    session.flush()
    return altered


def list_rules(session: Session) -> list[AlertRule]:
    return list(session.scalars(select(AlertRule).order_by(AlertRule.id)))


def as_dict(rule: AlertRule) -> dict:
    return {"id": rule.id, **{name: getattr(rule, name) for name in FIELDS}, "created_by": rule.created_by,
            "created_at": stamp(rule.created_at), "updated_at": stamp(rule.updated_at)}


def source_variants() -> list[dict]:
    """A whole rule per source: the metrics, aggregations and label names that source's series offer."""
    variants = []
    for name, source in series.SOURCES.items():
        offered = {"source": {"const": name}}
        if source.metrics is not None:
            offered["metric"] = {"enum": list(source.metrics)}
        if source.aggregations is not None:
            offered["aggregation"] = {"enum": list(source.aggregations)}
        if source.labels is not None:
            offered["filters"] = {"type": "object", "propertyNames": {"enum": list(source.labels)}}
            offered["group_by"] = {"type": "array", "items": {"enum": list(source.labels)}}
        variants.append({"properties": offered})
    return variants


def body_schema(partial: bool) -> dict:
    """The JSON Schema of a rule body: a whole rule to create, or any of its fields to change."""
    required = {"minProperties": 1} if partial else {"required": list(REQUIRED), "oneOf": source_variants()}
    return {"type": "object", "properties": FORM.properties(), "additionalProperties": False, **required,
            "description": "cross-field rules (422 naming the field): the metric, aggregation, filters and group_by are "
                           "those its source's series offer; recovery_threshold on the "
                           "clearing side of threshold; compare_offset_seconds at least window_seconds; no "
                           "alertname or severity label"}
