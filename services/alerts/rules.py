"""Alert rules (SPEC §9): a rule body validated field by field, the rule as JSON, and which fields make its condition.

Each limit is stated once, in the FIELDS table: `read_fields` enforces it and `body_schema` renders it for the OpenAPI
document, so what the document promises is what the API accepts. Callers commit.
"""
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from database import AlertRule
from services.alerts import series
from services.alerts.alerts import stamp
from services.analytics.metric_queries import AGGREGATIONS
from services.ingest.event_schema import MAX_METRIC_NAME, MAX_TAG_NAME, MAX_TAG_VALUE, MAX_TAGS, METRIC_NAME

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


class RuleError(ValueError):
    """A rule body that cannot make a valid rule; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Text:
    max_length: int
    pattern: re.Pattern | None = None
    rule: str = ""

    def read(self, name: str, value):
        if not isinstance(value, str) or not value.strip() or len(value) > self.max_length:
            raise RuleError(name, f"{name} must be 1 to {self.max_length} characters, not blank")
        if self.pattern and not self.pattern.fullmatch(value):
            raise RuleError(name, f"{name} must {self.rule}")
        return value

    def schema(self) -> dict:
        pattern = self.pattern.pattern if self.pattern else r"\S"
        return {"type": "string", "minLength": 1, "maxLength": self.max_length, "pattern": pattern}


@dataclass(frozen=True)
class Choice:
    options: tuple

    def read(self, name: str, value):
        if value not in self.options or isinstance(value, bool):
            raise RuleError(name, f"{name} must be one of {', '.join(map(str, self.options))}")
        return value

    def schema(self) -> dict:
        return {"enum": list(self.options)}


@dataclass(frozen=True)
class Number:
    minimum: float
    maximum: float
    integer: bool = False

    def read(self, name: str, value):
        kind = int if self.integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or not self.minimum <= value <= self.maximum:
            what = "an integer" if self.integer else "a number"
            raise RuleError(name, f"{name} must be {what} from {self.minimum:g} to {self.maximum:g}")
        return value if self.integer else float(value)  # NaN fails the range test above

    def schema(self) -> dict:
        return {"type": "integer" if self.integer else "number", "minimum": self.minimum, "maximum": self.maximum}


@dataclass(frozen=True)
class Names:
    """A list of distinct tag names."""
    max_items: int

    def read(self, name: str, value):
        if (not isinstance(value, list) or len(value) > self.max_items or len(set(map(str, value))) != len(value)
                or not all(isinstance(tag, str) and 0 < len(tag) <= MAX_TAG_NAME for tag in value)):
            raise RuleError(name, f"{name} must be at most {self.max_items} distinct names of 1 to {MAX_TAG_NAME} characters")
        return value

    def schema(self) -> dict:
        return {"type": "array", "maxItems": self.max_items, "uniqueItems": True,
                "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_NAME}}


@dataclass(frozen=True)
class StringMap:
    max_items: int
    max_value: int
    key_pattern: re.Pattern | None = None

    def read(self, name: str, value):
        if not isinstance(value, dict) or len(value) > self.max_items or not all(
                self.key_ok(key) and isinstance(text, str) and len(text) <= self.max_value for key, text in value.items()):
            raise RuleError(name, f"{name} must map at most {self.max_items} names to strings of at most "
                                  f"{self.max_value} characters")
        return value

    def key_ok(self, key: str) -> bool:
        return bool(self.key_pattern.fullmatch(key)) if self.key_pattern else 0 < len(key) <= MAX_TAG_NAME

    def schema(self) -> dict:
        names = {"pattern": self.key_pattern.pattern} if self.key_pattern else {"minLength": 1, "maxLength": MAX_TAG_NAME}
        return {"type": "object", "maxProperties": self.max_items, "propertyNames": names,
                "additionalProperties": {"type": "string", "maxLength": self.max_value}}


@dataclass(frozen=True)
class Flag:
    def read(self, name: str, value):
        if not isinstance(value, bool):
            raise RuleError(name, f"{name} must be true or false")
        return value

    def schema(self) -> dict:
        return {"type": "boolean"}


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


def read_fields(body: dict, partial: bool) -> dict:
    """Each field of a rule body checked alone (type, range, choice), else RuleError naming it.

    A whole rule (`partial=False`) must hold the REQUIRED fields and takes DEFAULTS for the others. The checks
    between fields need the rule: `create_rule`, `update_rule`.
    """
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise RuleError(unknown[0], f"{unknown[0]} is not a rule field; fields: {', '.join(FIELDS)}")
    fields = {name: read_field(name, value) for name, value in body.items()}
    missing = [] if partial else [name for name in REQUIRED if fields.get(name) is None]
    if missing:
        raise RuleError(missing[0], f"{missing[0]} is required")
    return fields if partial else DEFAULTS | fields


def read_field(name: str, value):
    if value is None:
        if name in NULLABLE:
            return None
        raise RuleError(name, f"{name} cannot be null")
    return FIELDS[name].read(name, value)


def check_together(rule: dict) -> None:
    """The rules between fields: the series its source offers, and a recovery on the clearing side."""
    try:  # the metric, aggregation, filters and group_by a source offers are the series module's to say
        series.check(series.SeriesQuery.of(rule))
    except series.SeriesError as error:
        raise RuleError(error.field, error.reason) from None
    if set(rule["labels"]) & set(RESERVED_LABELS):
        raise RuleError("labels", f"{' and '.join(RESERVED_LABELS)} come from the rule's name and severity")
    recovery = rule["recovery_threshold"]
    if recovery is not None and (recovery > rule["threshold"] if rule["comparator"].startswith(">")
                                 else recovery < rule["threshold"]):
        side = "at most" if rule["comparator"].startswith(">") else "at least"
        raise RuleError("recovery_threshold", f"with {rule['comparator']}, recovery_threshold must be {side} the threshold")
    offset = rule["compare_offset_seconds"]
    if offset is not None and offset < rule["window_seconds"]:
        raise RuleError("compare_offset_seconds", "compare_offset_seconds must be at least window_seconds")


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
        raise RuleError("body", f"nothing to change: send any of {', '.join(FIELDS)}")
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
    properties = {name: field.schema() | ({"type": [field.schema()["type"], "null"]} if name in NULLABLE else {})
                  for name, field in FIELDS.items()}
    required = {"minProperties": 1} if partial else {"required": list(REQUIRED), "oneOf": source_variants()}
    return {"type": "object", "properties": properties, "additionalProperties": False, **required,
            "description": "cross-field rules (422 naming the field): the metric, aggregation, filters and group_by are "
                           "those its source's series offer; recovery_threshold on the "
                           "clearing side of threshold; compare_offset_seconds at least window_seconds; no "
                           "alertname or severity label"}
