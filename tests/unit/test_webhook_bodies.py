"""What receivers are sent: Alertmanager's webhook body, key by key and type by type, and the Slack text."""
import re

import pytest

from services.alerts.alerts import fingerprint
from services.alerts.webhook_bodies import MAX_ALERTS, MAX_SLACK_LINES, ZERO_TIME, build, external_url

BASE = "https://pulse.example.com"
# Alertmanager's notify/webhook Message: template.Data plus version, groupKey and truncatedAlerts.
MESSAGE_KEYS = {"version": str, "groupKey": str, "truncatedAlerts": int, "status": str, "receiver": str,
                "groupLabels": dict, "commonLabels": dict, "commonAnnotations": dict, "externalURL": str, "alerts": list}
ALERT_KEYS = {"status": str, "labels": dict, "annotations": dict, "startsAt": str, "endsAt": str, "generatorURL": str,
              "fingerprint": str}
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def instance(alert_id=7, host="web-1", state="firing", value=95.25, **changes) -> dict:
    """An instance body as services.alerts.alerts.as_dict gives it."""
    labels = {"team": "ops", "host": host, "alertname": "High CPU", "severity": "critical"}
    return {"id": alert_id, "rule_id": 3, "rule_name": "High CPU", "fingerprint": fingerprint(labels), "state": state,
            "severity": "critical", "labels": labels,
            "annotations": {"summary": f"CPU at {value} % on {host}", "runbook": "https://runbooks.example.com/cpu"},
            "value": value, "threshold": 90.0, "message": "", "started_at": "2026-03-01T10:00:00+00:00",
            "state_since": "2026-03-01T10:01:00+00:00", "fired_at": "2026-03-01T10:01:00.250000+00:00",
            "resolved_at": None, "acknowledged_by": None, "acknowledged_at": None, "silenced": False,
            "flapping": False} | changes


def test_every_alertmanager_key_has_its_type_and_value():
    alerts = [instance(7, "web-1"), instance(8, "web-2", value=91.0)]
    body = build("alertmanager", "ops pager", alerts, "firing", BASE)
    assert {key: type(value) for key, value in body.items()} == MESSAGE_KEYS
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "ops pager"
    assert body["groupKey"] == '{}:{alertname="High CPU"}' and body["truncatedAlerts"] == 0
    assert body["groupLabels"] == {"alertname": "High CPU"}
    assert body["commonLabels"] == {"team": "ops", "alertname": "High CPU", "severity": "critical"}
    assert body["commonAnnotations"] == {"runbook": "https://runbooks.example.com/cpu"}
    assert body["externalURL"] == BASE
    first = body["alerts"][0]
    assert {key: type(value) for key, value in first.items()} == ALERT_KEYS
    assert first == {"status": "firing", "labels": alerts[0]["labels"], "annotations": alerts[0]["annotations"],
                     "startsAt": "2026-03-01T10:01:00.250000Z", "endsAt": ZERO_TIME,
                     "generatorURL": f"{BASE}/admin/alerts?alert=7", "fingerprint": alerts[0]["fingerprint"]}
    assert [alert["fingerprint"] for alert in body["alerts"]] == [alerts[0]["fingerprint"], alerts[1]["fingerprint"]]


def test_a_resolved_alert_ends_when_it_resolved_and_starts_when_it_fired():
    body = build("alertmanager", "ops", [instance(state="resolved", resolved_at="2026-03-01T10:30:00+00:00")],
                 "resolved", BASE)
    [alert] = body["alerts"]
    assert (body["status"], alert["status"]) == ("resolved", "resolved")
    assert (alert["startsAt"], alert["endsAt"]) == ("2026-03-01T10:01:00.250000Z", "2026-03-01T10:30:00Z")
    assert RFC3339_UTC.match(alert["startsAt"]) and RFC3339_UTC.match(alert["endsAt"])


def test_an_alert_that_never_fired_starts_when_its_condition_was_met():
    [alert] = build("alertmanager", "ops", [instance(fired_at=None)], "firing", BASE)["alerts"]
    assert alert["startsAt"] == "2026-03-01T10:00:00Z"


def test_labels_and_annotations_are_strings_and_a_missing_fingerprint_is_computed():
    body = build("alertmanager", "ops", [instance(labels={"alertname": "X", "code": 500}, annotations={"n": 1.5},
                                                  fingerprint="")], "firing", BASE)
    [alert] = body["alerts"]
    assert alert["labels"] == {"alertname": "X", "code": "500"} and alert["annotations"] == {"n": "1.5"}
    assert alert["fingerprint"] == fingerprint({"alertname": "X", "code": "500"})
    assert body["groupKey"] == '{}:{alertname="X"}'


def test_a_test_alert_without_an_instance_links_to_the_alerts_page():
    [alert] = build("alertmanager", "ops", [instance(alert_id=None)], "firing", BASE)["alerts"]
    assert alert["generatorURL"] == f"{BASE}/admin/alerts"


def test_alerts_past_the_limit_are_counted_as_truncated():
    body = build("alertmanager", "ops", [instance(n, f"web-{n}") for n in range(MAX_ALERTS + 3)], "firing", BASE)
    assert len(body["alerts"]) == MAX_ALERTS and body["truncatedAlerts"] == 3


@pytest.mark.parametrize("settings, expected", [
    ({"EXTERNAL_URL": "https://pulse.example.com/", "HOST": "127.0.0.1", "PORT": 5000}, "https://pulse.example.com"),
    ({"EXTERNAL_URL": None, "HOST": "127.0.0.1", "PORT": 8080}, "http://127.0.0.1:8080"),
    ({"EXTERNAL_URL": None, "HOST": "::1", "PORT": 5000}, "http://[::1]:5000"),
])
def test_links_start_at_the_external_url_or_host_and_port(settings, expected):
    assert external_url(settings) == expected


def test_a_wildcard_host_is_replaced_by_this_machines_name():
    url = external_url({"EXTERNAL_URL": None, "HOST": "0.0.0.0", "PORT": 5000})
    assert url.startswith("http://") and "0.0.0.0" not in url and url.endswith(":5000")


def test_slack_text_has_a_heading_and_a_line_per_alert():
    body = build("slack", "chat", [instance(7, "web-1"), instance(8, "web-2", value=91.0)], "firing", BASE)
    assert list(body) == ["text"]
    heading, first, second = body["text"].split("\n")
    assert heading == "[FIRING:2] High CPU (critical)"
    assert first == (f"• host=web-1, team=ops — value 95.25 (threshold 90) — CPU at 95.25 % on web-1 "
                     f"<{BASE}/admin/alerts?alert=7|view>")
    assert "host=web-2" in second and "value 91 " in second


@pytest.mark.parametrize("kind, status, heading", [
    ("resolved", "resolved", "[RESOLVED:1] High CPU (critical)"),
    ("reminder", "firing", "[FIRING:1] High CPU (critical) still firing"),
    ("test", "firing", "[TEST] [FIRING:1] High CPU (critical)"),
])
def test_slack_headings_say_what_kind_of_message_it_is(kind, status, heading):
    assert build("slack", "chat", [instance()], status, BASE, kind)["text"].split("\n")[0] == heading


def test_slack_text_escapes_markup_and_stops_at_a_readable_length():
    body = build("slack", "chat", [instance(n, f"<web-{n}|evil>&") for n in range(MAX_SLACK_LINES + 5)], "firing", BASE)
    lines = body["text"].split("\n")
    assert len(lines) == 1 + MAX_SLACK_LINES + 1 and lines[-1] == "… and 5 more"
    assert "host=&lt;web-0|evil&gt;&amp;" in lines[1] and "<web-0" not in lines[1]


def test_slack_says_none_for_a_missing_value():
    assert "value none (threshold none)" in build("slack", "chat", [instance(value=None, threshold=None)], "firing",
                                                   BASE)["text"]
