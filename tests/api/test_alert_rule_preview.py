"""POST /alert-rules/preview and /alert-rules/<id>/preview: a rule evaluated now over ingested data, per label set,
with the state it would enter; nothing is stored, audited or pushed."""
from datetime import timedelta

import pytest

from database import utcnow

RULES = "/admin/api/alert-rules"
LATENCY = {"name": "Slow checkout", "source": "metric", "metric": "checkout.latency_ms", "aggregation": "max",
           "group_by": ["region"], "window_seconds": 300, "comparator": ">", "threshold": 150, "severity": "critical",
           "labels": {"team": "payments"}}


@pytest.fixture
def latencies(send):
    """Two regions: eu stays under 150 ms, us goes over it."""
    now = utcnow()
    points = [{"name": "checkout.latency_ms", "value": value, "tags": {"region": region},
               "timestamp": (now - timedelta(seconds=seconds)).isoformat()}
              for region, values in (("eu", (90, 120)), ("us", (140, 210))) for seconds, value in zip((30, 10), values,
                                                                                                    strict=True)]
    assert send({"metrics": points}).status_code == 202


def preview(admin, body: dict, rule_id: int | None = None):
    path = f"{RULES}/{rule_id}/preview" if rule_id else f"{RULES}/preview"
    return admin.call("POST", path, json=body)


def by_region(answer) -> dict:
    return {instance["labels"]["region"]: instance for instance in answer.json["instances"]}


def test_an_unsaved_rule_answers_each_label_set_with_its_value_and_state(admin, latencies):
    answer = preview(admin, LATENCY)
    assert answer.status_code == 200, answer.json
    regions = by_region(answer)
    assert (regions["eu"]["value"], regions["eu"]["state"]) == (120, "normal")
    assert (regions["us"]["value"], regions["us"]["state"]) == (210, "firing")
    assert regions["us"]["labels"] == {"region": "us", "team": "payments", "alertname": "Slow checkout",
                                       "severity": "critical"}


@pytest.mark.parametrize("changes, eu, us", [
    ({"for_seconds": 120}, "normal", "pending"),  # the condition must first hold for two minutes
    ({"comparator": "<", "threshold": 130}, "firing", "normal"),
    ({"aggregation": "avg", "threshold": 170}, "normal", "firing"),  # us averages 175
])
def test_the_state_follows_the_condition(admin, latencies, changes, eu, us):
    regions = by_region(preview(admin, LATENCY | changes))
    assert (regions["eu"]["state"], regions["us"]["state"]) == (eu, us)


@pytest.mark.parametrize("nodata_state, state", [("nodata", "nodata"), ("firing", "firing"), ("ok", "normal")])
def test_a_window_without_points_is_what_the_rule_says_no_data_counts_as(admin, nodata_state, state):
    body = LATENCY | {"group_by": [], "nodata_state": nodata_state}
    [instance] = preview(admin, body).json["instances"]
    assert (instance["value"], instance["state"]) == (None, state)


def test_a_saved_rule_is_previewed_and_nothing_changes(admin, client, latencies):
    rule = admin.call("POST", RULES, json=LATENCY).json["rule"]
    audit_before = client.get("/admin/api/audit").json["entries"]
    answer = preview(admin, {}, rule["id"])
    assert answer.json["rule_id"] == rule["id"] and by_region(answer)["us"]["state"] == "firing"
    assert client.get("/admin/api/audit").json["entries"] == audit_before
    assert client.get("/admin/api/alerts").json["alerts"] == []
    assert client.get(f"{RULES}/{rule['id']}").json["rule"] == rule


@pytest.mark.parametrize("changes, field", [
    ({"metric": ""}, "metric"),
    ({"source": "host", "metric": "cpu", "group_by": ["region"]}, "group_by"),
    ({"source": "host", "metric": "cpu", "aggregation": "sum", "group_by": []}, "aggregation"),
    ({"threshold": None}, "threshold"),
])
def test_an_invalid_body_is_422_naming_the_field(admin, changes, field):
    answer = preview(admin, LATENCY | changes)
    assert answer.status_code == 422 and answer.json["error"]["details"]["field"] == field, answer.json


def test_an_unknown_rule_is_404_and_a_viewer_may_not_preview(admin, auth, client):
    assert preview(admin, {}, 999_999).status_code == 404
    auth.logout()
    auth.login_viewer()
    assert preview(auth, LATENCY).status_code == 403
