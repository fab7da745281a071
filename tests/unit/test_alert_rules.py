"""The alert rule validator: each field alone, the fields together, PATCH bodies, and which changes are conditions."""
import pytest

from services.alerts import rules
from services.alerts.body_fields import FieldError

BASE = {"name": "High CPU", "source": "host", "metric": "cpu", "comparator": ">", "threshold": 90}


def create(session, **changes):
    return rules.create_rule(session, rules.read_fields(BASE | changes, partial=False), "alice")


def update(session, rule, body: dict) -> list[str]:
    return rules.update_rule(session, rule, rules.read_fields(body, partial=True))


def test_a_minimal_body_takes_the_defaults(db_session):
    rule = create(db_session)
    body = rules.as_dict(rule)
    assert body | {"id": None, "created_at": None, "updated_at": None} == {
        "id": None, "name": "High CPU", "source": "host", "metric": "cpu", "filters": {}, "group_by": [],
        "aggregation": "avg", "window_seconds": 60, "comparator": ">", "threshold": 90.0, "recovery_threshold": None,
        "for_seconds": 0, "keep_firing_for_seconds": 0, "compare_offset_seconds": None, "severity": "warning",
        "labels": {}, "annotations": {}, "nodata_state": "nodata", "error_state": "error", "enabled": True,
        "created_by": "alice", "created_at": None, "updated_at": None}
    assert body["created_at"].endswith("+00:00") and rule.id


@pytest.mark.parametrize("changes", [
    {"source": "metric", "metric": "checkout.latency_ms", "filters": {"region": "eu"}, "group_by": ["region", "host"],
     "aggregation": "p95"},
    {"source": "endpoint", "metric": "error_rate", "filters": {"endpoint": "/api/v1/events"}},
    {"source": "business", "metric": "revenue", "filters": {"currency": "EUR"}, "comparator": "<", "threshold": 0.5,
     "compare_offset_seconds": 7 * 86400, "window_seconds": 3600},
    {"comparator": ">", "threshold": 90, "recovery_threshold": 80},
    {"comparator": "<=", "threshold": 10, "recovery_threshold": 15.5},
    {"comparator": ">=", "threshold": 90, "recovery_threshold": 90},
    {"labels": {"team": "ops"}, "annotations": {"summary": "CPU at {{ value }}"}, "severity": "critical"},
    {"nodata_state": "firing", "error_state": "ok", "enabled": False, "for_seconds": 60, "keep_firing_for_seconds": 120},
    {"threshold": -1e15}, {"window_seconds": 7 * 86400}, {"for_seconds": 0},
])
def test_valid_bodies_are_accepted(db_session, changes):
    body = rules.as_dict(create(db_session, **changes))
    assert all(body[name] == value for name, value in changes.items())


@pytest.mark.parametrize("changes, field", [
    ({"name": None}, "name"), ({"name": "   "}, "name"), ({"name": "x" * 121}, "name"), ({"name": 5}, "name"),
    ({"source": "disk"}, "source"), ({"source": None}, "source"),
    ({"metric": "bogus"}, "metric"), ({"source": "endpoint", "metric": "cpu"}, "metric"),
    ({"source": "business", "metric": "p95"}, "metric"), ({"source": "metric", "metric": "9lives"}, "metric"),
    ({"source": "metric", "metric": "a b"}, "metric"), ({"source": "metric", "metric": "m" * 201}, "metric"),
    ({"aggregation": "median"}, "aggregation"), ({"comparator": "=="}, "comparator"), ({"comparator": None}, "comparator"),
    ({"threshold": "90"}, "threshold"), ({"threshold": True}, "threshold"), ({"threshold": float("nan")}, "threshold"),
    ({"threshold": float("inf")}, "threshold"), ({"threshold": 10**400}, "threshold"),
    ({"recovery_threshold": 95}, "recovery_threshold"),
    ({"comparator": "<", "threshold": 10, "recovery_threshold": 5}, "recovery_threshold"),
    ({"window_seconds": 9}, "window_seconds"), ({"window_seconds": 7 * 86400 + 1}, "window_seconds"),
    ({"window_seconds": 60.5}, "window_seconds"), ({"for_seconds": -1}, "for_seconds"),
    ({"keep_firing_for_seconds": 86401}, "keep_firing_for_seconds"),
    ({"compare_offset_seconds": 59}, "compare_offset_seconds"),
    ({"compare_offset_seconds": 600, "window_seconds": 3600}, "compare_offset_seconds"),
    ({"severity": "page"}, "severity"), ({"severity": None}, "severity"),
    ({"labels": {"bad-name": "x"}}, "labels"), ({"labels": {"team": 1}}, "labels"), ({"labels": ["team"]}, "labels"),
    ({"labels": {f"l{n}": "x" for n in range(17)}}, "labels"), ({"labels": {"severity": "low"}}, "labels"),
    ({"labels": {"alertname": "x"}}, "labels"), ({"annotations": {"summary": "x" * 2001}}, "annotations"),
    ({"filters": {"region": "eu"}}, "filters"), ({"source": "endpoint", "metric": "p95", "filters": {"path": "/"}}, "filters"),
    ({"source": "metric", "metric": "m", "filters": {"": "x"}}, "filters"),
    ({"group_by": ["region"]}, "group_by"), ({"source": "metric", "metric": "m", "group_by": ["a", "a"]}, "group_by"),
    ({"source": "metric", "metric": "m", "group_by": "region"}, "group_by"),
    ({"source": "metric", "metric": "m", "group_by": [f"t{n}" for n in range(9)]}, "group_by"),
    ({"nodata_state": "alerting"}, "nodata_state"), ({"error_state": "nodata"}, "error_state"),
    ({"enabled": "yes"}, "enabled"), ({"colour": "red"}, "colour"),
])
def test_invalid_bodies_name_the_field(db_session, changes, field):
    with pytest.raises(FieldError) as caught:
        create(db_session, **changes)
    assert caught.value.field == field and str(caught.value)


@pytest.mark.parametrize("body, field", [({"threshold": "x"}, "threshold"), ({"labels": []}, "labels"), ({}, "name"),
                                         ({"name": "n", "source": "host", "metric": "cpu", "comparator": ">"}, "threshold")])
def test_a_bad_field_is_named_before_missing_ones(body, field):
    with pytest.raises(FieldError) as caught:
        rules.read_fields(body, partial=False)
    assert caught.value.field == field


def test_patch_validates_against_the_saved_rule_and_reports_condition_changes(db_session):
    rule = create(db_session, recovery_threshold=80)
    assert update(db_session, rule, {"severity": "critical", "labels": {"team": "ops"}}) == []
    assert update(db_session, rule, {"threshold": 95, "window_seconds": 60}) == ["threshold"]
    assert (rule.severity, rule.threshold, rule.recovery_threshold) == ("critical", 95.0, 80.0)
    with pytest.raises(FieldError) as caught:
        update(db_session, rule, {"threshold": 70})  # below the saved recovery threshold
    assert caught.value.field == "recovery_threshold"
    assert update(db_session, rule, {"recovery_threshold": None}) == ["recovery_threshold"]
    assert rule.recovery_threshold is None


@pytest.mark.parametrize("body, field", [({}, "body"), ({"name": None}, "name"), ({"metric": "p95"}, "metric")])
def test_bad_patches_are_refused(db_session, body, field):
    rule = create(db_session)
    with pytest.raises(FieldError) as caught:
        update(db_session, rule, body)
    assert caught.value.field == field


def test_the_schema_states_each_field_and_its_limits():
    create_schema, patch_schema = rules.body_schema(partial=False), rules.body_schema(partial=True)
    assert set(create_schema["properties"]) == set(rules.FIELDS) and create_schema["required"] == list(rules.REQUIRED)
    assert patch_schema["minProperties"] == 1 and "required" not in patch_schema
    assert create_schema["properties"]["window_seconds"] == {"type": "integer", "minimum": 10, "maximum": 7 * 86400}
    assert create_schema["properties"]["recovery_threshold"]["type"] == ["number", "null"]
    assert create_schema["properties"]["severity"] == {"enum": ["info", "warning", "critical"]}
