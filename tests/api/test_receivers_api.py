"""Receivers over HTTP: CRUD, 422 naming the field, 409 for a taken name, admin-only writes, each audited; the test
endpoint against a real HTTP receiver; the delivery log and the retry of dead letters."""
from datetime import timedelta

import pytest

from database import Alert, Delivery, HostSample, utcnow
from extensions import db
from services.alerts import alerts
from tests.conftest import last_audit
from tests.webhook_receiver import WebhookReceiver

RECEIVERS = "/admin/api/receivers"
OPS = {"name": "ops pager", "url": "https://hooks.example.com/alertmanager"}


def create(admin, **changes) -> dict:
    response = admin.call("POST", RECEIVERS, json=OPS | changes)
    assert response.status_code == 201, response.json
    return response.json["receiver"]


def test_create_list_get_with_defaults_and_audit(admin, client):
    receiver = create(admin)
    assert {key: receiver[key] for key in ("name", "url", "format", "send_resolved", "min_severity",
                                           "repeat_interval_seconds", "created_by")} == OPS | {
        "format": "alertmanager", "send_resolved": True, "min_severity": "info", "repeat_interval_seconds": None,
        "created_by": "admin"}
    assert receiver["deliveries"] == {"pending": 0, "delivered": 0, "dead": 0}
    assert client.get(RECEIVERS).json["receivers"] == [receiver]
    assert client.get(f"{RECEIVERS}/{receiver['id']}").json["receiver"] == receiver
    entry = last_audit(client, "receiver.create")
    assert (entry["target"], entry["details"]) == (f"receiver {receiver['id']}", {"name": "ops pager",
                                                                                   "format": "alertmanager"})


@pytest.mark.parametrize("body, field", [
    ({"name": ""}, "name"), ({"name": " "}, "name"), ({"name": "x" * 121}, "name"), ({"name": None}, "name"),
    ({"name": 5}, "name"),
    ({"url": "ftp://hooks.example.com"}, "url"), ({"url": "http://"}, "url"), ({"url": "hooks.example.com/x"}, "url"),
    ({"url": "https://example.com/" + "x" * 2000}, "url"), ({"url": 123}, "url"), ({"url": "http://[::1"}, "url"),
    ({"url": "http://example.com:99999/"}, "url"), ({"url": "http://exa mple.com/"}, "url"),
    ({"format": "email"}, "format"), ({"format": None}, "format"),
    ({"send_resolved": "yes"}, "send_resolved"), ({"send_resolved": 1}, "send_resolved"),
    ({"min_severity": "fatal"}, "min_severity"), ({"min_severity": 1}, "min_severity"),
    ({"repeat_interval_seconds": 59}, "repeat_interval_seconds"),
    ({"repeat_interval_seconds": 604801}, "repeat_interval_seconds"),
    ({"repeat_interval_seconds": 600.5}, "repeat_interval_seconds"),
    ({"repeat_interval_seconds": True}, "repeat_interval_seconds"),
    ({"repeat_interval_seconds": "600"}, "repeat_interval_seconds"),
    ({"headers": {}}, "headers"),
])
def test_invalid_receivers_are_a_422_naming_the_field(admin, client, body, field):
    response = admin.call("POST", RECEIVERS, json=OPS | body)
    assert response.status_code == 422, response.json
    assert response.json["error"]["details"] == {"field": field} and response.json["error"]["message"]
    assert client.get(RECEIVERS).json["receivers"] == []


def test_name_and_url_are_required(admin):
    for missing in ("name", "url"):
        response = admin.call("POST", RECEIVERS, json={key: value for key, value in OPS.items() if key != missing})
        assert response.status_code == 422 and response.json["error"]["details"] == {"field": missing}


def test_the_largest_settings_are_accepted(admin):
    receiver = create(admin, url="http://127.0.0.1:8080/" + "x" * 1978, format="slack", send_resolved=False,
                      min_severity="critical", repeat_interval_seconds=604800)
    assert (len(receiver["url"]), receiver["format"], receiver["repeat_interval_seconds"]) == (2000, "slack", 604800)


def test_a_taken_name_is_a_409_on_create_and_rename(admin, client):
    first, second = create(admin), create(admin, name="chat")
    response = admin.call("POST", RECEIVERS, json=OPS)
    assert response.status_code == 409 and response.json["error"]["details"] == {"field": "name"}
    assert admin.call("PATCH", f"{RECEIVERS}/{second['id']}", json={"name": "ops pager"}).status_code == 409
    assert admin.call("PATCH", f"{RECEIVERS}/{first['id']}", json={"name": "ops pager"}).status_code == 200
    assert [receiver["name"] for receiver in client.get(RECEIVERS).json["receivers"]] == ["ops pager", "chat"]


def test_patch_changes_only_what_it_sends_and_null_clears_the_repeat(admin, client):
    receiver = create(admin, repeat_interval_seconds=3600)
    response = admin.call("PATCH", f"{RECEIVERS}/{receiver['id']}", json={"min_severity": "warning", "format": "slack"})
    changed = response.json["receiver"]
    assert changed == receiver | {"min_severity": "warning", "format": "slack", "updated_at": changed["updated_at"]}
    assert last_audit(client, "receiver.update")["details"] == {"fields": ["format", "min_severity"]}
    cleared = admin.call("PATCH", f"{RECEIVERS}/{receiver['id']}", json={"repeat_interval_seconds": None})
    assert cleared.json["receiver"]["repeat_interval_seconds"] is None


@pytest.mark.parametrize("body, field", [({}, "body"), ({"url": "mailto:ops@example.com"}, "url"),
                                         ({"send_resolved": None}, "send_resolved"), ({"id": 3}, "id")])
def test_bad_patches_change_nothing(admin, client, body, field):
    receiver = create(admin)
    response = admin.call("PATCH", f"{RECEIVERS}/{receiver['id']}", json=body)
    assert response.status_code == 422 and response.json["error"]["details"] == {"field": field}
    assert client.get(f"{RECEIVERS}/{receiver['id']}").json["receiver"] == receiver


def test_delete_takes_the_deliveries_along(app, admin, client):
    receiver = create(admin)
    with app.app_context():
        db.session.add(Delivery(receiver_id=receiver["id"], kind="firing", payload={}))
        db.session.commit()
    assert admin.call("DELETE", f"{RECEIVERS}/{receiver['id']}").status_code == 204
    assert last_audit(client, "receiver.delete")["details"] == {"name": "ops pager"}
    for method, path in [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/test"), ("GET", "/deliveries")]:
        assert admin.call(method, f"{RECEIVERS}/{receiver['id']}{path}", json={"name": "x"}).status_code == 404
    with app.app_context():
        assert db.session.query(Delivery).count() == 0


@pytest.mark.parametrize("receiver_id", [0, 2**31, 2**63])
def test_unknown_or_impossible_ids_are_404(admin, receiver_id):
    assert admin.call("GET", f"{RECEIVERS}/{receiver_id}").status_code == 404
    assert admin.call("POST", f"/admin/api/deliveries/{receiver_id}/retry").status_code == 404


@pytest.mark.parametrize("method, path", [("POST", RECEIVERS), ("PATCH", RECEIVERS + "/{id}"),
                                          ("DELETE", RECEIVERS + "/{id}"), ("POST", RECEIVERS + "/{id}/test"),
                                          ("POST", "/admin/api/deliveries/{delivery}/retry")])
def test_viewers_read_but_cannot_write(app, admin, auth, client, method, path):
    with WebhookReceiver() as hook:
        receiver = create(admin, url=hook.url)
        with app.app_context():
            dead = Delivery(receiver_id=receiver["id"], kind="firing", payload={}, status="dead")
            db.session.add(dead)
            db.session.commit()
        auth.logout()
        auth.login_viewer()
        listed = client.get(RECEIVERS).json["receivers"]
        response = auth.call(method, path.format(id=receiver["id"], delivery=dead.id), json=OPS | {"name": "other"})
        assert response.status_code == 403
        assert client.get(RECEIVERS).json["receivers"] == listed
        assert hook.requests == []
    assert client.get(f"{RECEIVERS}/{receiver['id']}/deliveries").json["deliveries"][0]["status"] == "dead"


def test_viewers_see_a_webhook_url_only_up_to_its_host(admin, auth, client):
    secret = "https://hooks.slack.com:8443/services/T000/B000/XXXXXXXX?token=abc"
    receiver = create(admin, url=secret, format="slack")
    assert client.get(f"{RECEIVERS}/{receiver['id']}").json["receiver"]["url"] == secret
    auth.logout()
    auth.login_viewer()
    [listed] = client.get(RECEIVERS).json["receivers"]
    assert listed["url"] == client.get(f"{RECEIVERS}/{receiver['id']}").json["receiver"]["url"] == (
        "https://hooks.slack.com:8443/…")


def test_anonymous_callers_get_401(client):
    assert client.get(RECEIVERS).status_code == 401


# --- the test endpoint against a real receiver --------------------------------------------------------------------

def test_a_test_sends_this_hosts_cpu_when_nothing_fires_and_nothing_is_configured(app, admin, client):
    with app.app_context():
        host = app.extensions["runtime"].host
        db.session.add(HostSample(host=host, pid=1, taken_at=utcnow(), cpu_percent=42.5, memory_percent=50,
                                  disk_percent=60, data={}))
        db.session.commit()
    with WebhookReceiver(statuses=[200]) as hook:
        receiver = create(admin, url=hook.url)
        response = admin.call("POST", f"{RECEIVERS}/{receiver['id']}/test")
    assert response.status_code == 200
    sent = response.json["delivery"]
    assert {key: sent[key] for key in ("kind", "status", "attempts", "last_status_code", "last_error")} == {
        "kind": "test", "status": "delivered", "attempts": 1, "last_status_code": 200, "last_error": None}
    [body] = hook.bodies
    assert body == sent["payload"] and body["version"] == "4" and body["receiver"] == "ops pager"
    [alert] = body["alerts"]
    assert alert["labels"] == {"alertname": "PulseboardTest", "severity": "info", "host": host}
    assert alert["annotations"]["summary"] == f"CPU of {host} at 42.5 %" and "test" in alert["annotations"]
    assert alert["generatorURL"] == "http://127.0.0.1:5000/admin/alerts"
    entry = last_audit(client, "receiver.test")
    assert entry["details"] == {"status": "delivered", "status_code": 200, "error": None}


def test_a_test_uses_a_firing_alert_when_there_is_one(app, admin):
    labels = {"alertname": "High CPU", "severity": "critical", "host": "web-1"}
    with app.app_context():
        alert = Alert(rule_name="High CPU", fingerprint=alerts.fingerprint(labels), state="firing", severity="critical",
                      labels=labels, annotations={"summary": "CPU at 97 %"}, value=97.0, threshold=90.0,
                      fired_at=utcnow() - timedelta(minutes=3))
        db.session.add(alert)
        db.session.commit()
        alert_id = alert.id
    with WebhookReceiver(statuses=[200]) as hook:
        receiver = create(admin, url=hook.url, format="slack")
        sent = admin.call("POST", f"{RECEIVERS}/{receiver['id']}/test").json["delivery"]
    assert sent["alert_id"] == alert_id
    [body] = hook.bodies
    assert body["text"].startswith("[TEST] [FIRING:1] High CPU (critical)\n• host=web-1 — value 97 (threshold 90) — ")
    assert f"/admin/alerts?alert={alert_id}|view>" in body["text"]


def test_a_test_evaluates_an_enabled_rule_when_nothing_fires(app, admin):
    with app.app_context():
        host = app.extensions["runtime"].host
        db.session.add(HostSample(host=host, pid=1, taken_at=utcnow() - timedelta(seconds=5), cpu_percent=12.0,
                                  memory_percent=50, disk_percent=60, data={}))
        db.session.commit()
    rule = admin.call("POST", "/admin/api/alert-rules", json={
        "name": "Busy host", "source": "host", "metric": "cpu", "group_by": ["host"], "comparator": ">",
        "threshold": 90, "severity": "critical", "labels": {"team": "ops"}}).json["rule"]
    admin.call("POST", "/admin/api/alert-rules", json={
        "name": "Disabled", "source": "host", "metric": "cpu", "comparator": ">", "threshold": 1, "enabled": False})
    with WebhookReceiver(statuses=[200]) as hook:
        receiver = create(admin, url=hook.url)
        admin.call("POST", f"{RECEIVERS}/{receiver['id']}/test")
    [alert] = hook.bodies[0]["alerts"]
    assert alert["labels"] == {"team": "ops", "host": host, "alertname": "Busy host", "severity": "critical"}
    assert alert["annotations"]["summary"] == "Busy host: cpu is 12 (threshold > 90)"
    assert rule["enabled"]


def test_a_failed_test_is_dead_at_once_and_says_why(admin, client):
    with WebhookReceiver(statuses=[503, 200]) as hook:
        receiver = create(admin, url=hook.url)
        sent = admin.call("POST", f"{RECEIVERS}/{receiver['id']}/test").json["delivery"]
        assert len(hook.requests) == 1
    assert (sent["status"], sent["attempts"], sent["last_status_code"]) == ("dead", 1, 503)
    assert sent["last_error"].startswith("HTTP 503 Service Unavailable")
    assert client.get(f"{RECEIVERS}/{receiver['id']}").json["receiver"]["deliveries"] == {
        "pending": 0, "delivered": 0, "dead": 1}


def test_a_test_body_must_be_json_if_there_is_one(admin):
    receiver = create(admin)
    response = admin.call("POST", f"{RECEIVERS}/{receiver['id']}/test", data="x", content_type="text/plain")
    assert response.status_code == 415


# --- the delivery log and retries ---------------------------------------------------------------------------------

@pytest.fixture
def log(app, admin):
    """A receiver with three deliveries: delivered, dead, pending (oldest first)."""
    receiver = create(admin)
    with app.app_context():
        rows = [Delivery(receiver_id=receiver["id"], kind=kind, payload={"n": n}, status=status)
                for n, (kind, status) in enumerate([("firing", "delivered"), ("resolved", "dead"), ("reminder", "pending")])]
        db.session.add_all(rows)
        db.session.commit()
        return receiver, [row.id for row in rows]


def test_deliveries_are_listed_newest_first_and_filtered(client, log):
    receiver, ids = log
    path = f"{RECEIVERS}/{receiver['id']}/deliveries"
    listed = client.get(path).json["deliveries"]
    assert [row["id"] for row in listed] == ids[::-1]
    assert set(listed[0]) == {"id", "receiver_id", "alert_id", "kind", "status", "attempts", "next_attempt_at",
                              "last_status_code", "last_error", "created_at", "delivered_at", "payload"}
    assert [row["id"] for row in client.get(path + "?status=dead").json["deliveries"]] == [ids[1]]
    assert len(client.get(path + "?limit=1").json["deliveries"]) == 1
    assert client.get(path + "?status=lost").status_code == 400
    assert client.get(path + "?limit=0").status_code == 400


def test_only_a_dead_letter_can_be_retried_and_the_retry_is_audited(admin, client, log):
    receiver, (delivered, dead, pending) = log
    response = admin.call("POST", f"/admin/api/deliveries/{dead}/retry")
    assert response.status_code == 200
    assert {key: response.json["delivery"][key] for key in ("id", "status", "attempts")} == {
        "id": dead, "status": "pending", "attempts": 0}
    entry = last_audit(client, "delivery.retry")
    assert (entry["target"], entry["details"]) == (f"delivery {dead}", {"receiver_id": receiver["id"], "kind": "resolved"})
    for delivery_id in (dead, delivered, pending):
        assert admin.call("POST", f"/admin/api/deliveries/{delivery_id}/retry").status_code == 409
