"""Alerts listed, acknowledged and their history, on rows added directly (the engine has tests of its own)."""
from datetime import UTC, datetime, timedelta

import pytest

from database import Alert, AlertRule, AlertTransition
from extensions import db


def add_alert(app, state="firing"):
    with app.app_context():
        alert = Alert(state=state, severity="critical", message="CPU above 90 %", labels={"host": "web-1"}, value=97.5)
        db.session.add(alert)
        db.session.commit()
        return alert.id


def test_alerts_are_listed_newest_first_and_filtered(app, admin, client):
    older, newer = add_alert(app, "resolved"), add_alert(app)
    assert [a["id"] for a in client.get("/admin/api/alerts").json["alerts"]] == [newer, older]
    assert [a["id"] for a in client.get("/admin/api/alerts?state=resolved").json["alerts"]] == [older]


def test_ack_is_recorded_audited_and_published(app, admin, client):
    alert_id = add_alert(app)
    published = []
    app.extensions["runtime"].hub.subscribe(lambda channel, items: published.append((channel, items)))
    response = admin.call("POST", f"/admin/api/alerts/{alert_id}/ack")
    assert response.status_code == 200
    body = response.json["alert"]
    # Acknowledged is a flag on a firing instance, not a state of its own.
    assert body["state"] == "firing" and body["acknowledged_by"] == "admin" and body["acknowledged_at"]
    assert published == [("alert", [body | {"previous_state": "firing"}])]
    assert client.get("/admin/api/audit").json["entries"][0]["action"] == "alert.ack"


def test_ack_twice_or_of_unknown_alerts_is_refused(app, admin):
    alert_id = add_alert(app)
    admin.call("POST", f"/admin/api/alerts/{alert_id}/ack")
    assert admin.call("POST", f"/admin/api/alerts/{alert_id}/ack").status_code == 409
    assert admin.call("POST", "/admin/api/alerts/999/ack").status_code == 404


def test_resolved_alerts_cannot_be_acknowledged(app, admin):
    assert admin.call("POST", f"/admin/api/alerts/{add_alert(app, 'resolved')}/ack").status_code == 409


def test_history_lists_transitions_newest_first(app, client, admin):
    alert_id = add_alert(app)
    with app.app_context():
        for minute, (before, after) in enumerate([("resolved", "pending"), ("pending", "firing")]):
            db.session.add(AlertTransition(alert_id=alert_id, at=datetime(2026, 12, 3, 12, minute, tzinfo=UTC),
                                           from_state=before, to_state=after, value=91.0 + minute))
        db.session.commit()
    body = client.get(f"/admin/api/alerts/{alert_id}/history").json
    assert body["alert"]["id"] == alert_id
    assert [(entry["from_state"], entry["to_state"], entry["value"]) for entry in body["history"]] == [
        ("pending", "firing", 92.0), ("resolved", "pending", 91.0)]
    assert client.get("/admin/api/alerts/999/history").status_code == 404


def test_viewers_cannot_ack(app, auth):
    alert_id = add_alert(app)
    auth.login_viewer()
    assert auth.call("POST", f"/admin/api/alerts/{alert_id}/ack").status_code == 403


def test_periods_answer_firing_spans_in_the_window_with_the_rule_source(app, client, admin):
    alert_id = add_alert(app)
    now = datetime.now(UTC)
    with app.app_context():
        rule = AlertRule(name="CPU high", source="host", metric="cpu", comparator=">", threshold=90.0)
        db.session.add(rule)
        db.session.flush()
        db.session.get(Alert, alert_id).rule_id = rule.id
        for minutes_ago, before, after in [(200, "pending", "firing"), (100, "firing", "resolved"),
                                           (20, "pending", "firing")]:
            db.session.add(AlertTransition(alert_id=alert_id, at=now - timedelta(minutes=minutes_ago),
                                           from_state=before, to_state=after))
        db.session.commit()
    body = client.get("/admin/api/alerts/periods?minutes=30").json
    assert [(p["alert_id"], p["source"], p["metric"], p["end"]) for p in body["periods"]] == [
        (alert_id, "host", "cpu", None)]
    assert datetime.fromisoformat(body["since"]) < datetime.fromisoformat(body["periods"][0]["start"])
    assert [p["end"] is None for p in client.get("/admin/api/alerts/periods?minutes=1440").json["periods"]] == [
        False, True]


@pytest.mark.parametrize("minutes", ["0", "1441", "x"])
def test_periods_refuse_a_window_out_of_range(client, admin, minutes):
    response = client.get(f"/admin/api/alerts/periods?minutes={minutes}")
    assert response.status_code == 400 and response.json["error"]["details"] == {"parameter": "minutes"}
