"""Alerts listed and acknowledged; the engine that raises them comes later, so tests add rows directly."""
from database import Alert
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
    assert body["state"] == "acknowledged" and body["acknowledged_by"] == "admin" and body["acknowledged_at"]
    assert published == [("alert", [body])]
    assert client.get("/admin/api/audit").json["entries"][0]["action"] == "alert.ack"


def test_ack_twice_or_of_unknown_alerts_is_refused(app, admin):
    alert_id = add_alert(app)
    admin.call("POST", f"/admin/api/alerts/{alert_id}/ack")
    assert admin.call("POST", f"/admin/api/alerts/{alert_id}/ack").status_code == 409
    assert admin.call("POST", "/admin/api/alerts/999/ack").status_code == 404


def test_viewers_cannot_ack(app, auth):
    alert_id = add_alert(app)
    auth.login_viewer()
    assert auth.call("POST", f"/admin/api/alerts/{alert_id}/ack").status_code == 403
