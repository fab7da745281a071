"""Alert rules over HTTP: CRUD, 422 naming the field, admin-only writes, every change audited."""
import pytest

from app_factory import create_app
from config import TestConfig
from database import Alert
from extensions import db
from services.accounts import users
from services.runtime import migrations
from tests.conftest import ADMIN, AuthActions, last_audit

RULES = "/admin/api/alert-rules"
CPU = {"name": "High CPU", "source": "host", "metric": "cpu", "comparator": ">", "threshold": 90,
       "recovery_threshold": 80, "for_seconds": 60, "labels": {"team": "ops"},
       "annotations": {"summary": "CPU at {{ value }} %"}}


def create(admin, **changes) -> dict:
    response = admin.call("POST", RULES, json=CPU | changes)
    assert response.status_code == 201, response.json
    return response.json["rule"]


def test_create_list_and_get(admin, client):
    rule = create(admin)
    assert {key: rule[key] for key in CPU} == CPU | {"threshold": 90.0, "recovery_threshold": 80.0}
    assert rule["created_by"] == "admin" and rule["severity"] == "warning" and rule["enabled"] is True
    assert client.get(RULES).json["rules"] == [rule]
    assert client.get(f"{RULES}/{rule['id']}").json["rule"] == rule
    entry = last_audit(client, "alert_rule.create")
    assert (entry["actor"], entry["target"]) == ("admin", f"alert rule {rule['id']}")
    assert entry["details"] == {"name": "High CPU", "source": "host", "metric": "cpu"}


@pytest.mark.parametrize("body, field", [
    ({"name": ""}, "name"),
    ({"source": "cpu"}, "source"),
    ({"metric": "p95"}, "metric"),
    ({"threshold": "high"}, "threshold"),
    ({"threshold": None}, "threshold"),
    ({"comparator": "=>"}, "comparator"),
    ({"recovery_threshold": 95}, "recovery_threshold"),
    ({"window_seconds": 0}, "window_seconds"),
    ({"severity": "fatal"}, "severity"),
    ({"labels": {"alertname": "x"}}, "labels"),
    ({"group_by": ["region"]}, "group_by"),
    ({"nodata_state": "maybe"}, "nodata_state"),
    ({"extra": 1}, "extra"),
])
def test_invalid_rules_are_a_422_naming_the_field(admin, client, body, field):
    response = admin.call("POST", RULES, json=CPU | body)
    assert response.status_code == 422
    assert response.json["error"]["details"] == {"field": field} and response.json["error"]["message"]
    assert client.get(RULES).json["rules"] == []


@pytest.mark.parametrize("body, content_type, status", [
    ("[]", "application/json", 400), ("{", "application/json", 400), ("name=x", "text/plain", 415)])
def test_a_rule_body_is_a_json_object(admin, body, content_type, status):
    assert admin.call("POST", RULES, data=body, content_type=content_type).status_code == status


def test_patch_changes_only_what_it_sends_and_audits_the_condition(admin, client):
    rule = create(admin)
    response = admin.call("PATCH", f"{RULES}/{rule['id']}", json={"severity": "critical", "threshold": 95})
    assert response.status_code == 200
    changed = response.json["rule"]
    assert changed == rule | {"severity": "critical", "threshold": 95.0, "updated_at": changed["updated_at"]}
    assert changed["updated_at"] >= rule["updated_at"]
    assert last_audit(client, "alert_rule.update")["details"] == {"fields": ["severity", "threshold"],
                                                                 "condition": ["threshold"]}
    cleared = admin.call("PATCH", f"{RULES}/{rule['id']}", json={"recovery_threshold": None, "enabled": False})
    assert cleared.json["rule"]["recovery_threshold"] is None and cleared.json["rule"]["enabled"] is False


@pytest.mark.parametrize("body, field", [
    ({}, "body"), ({"threshold": 70}, "recovery_threshold"), ({"metric": "rps"}, "metric"), ({"name": None}, "name")])
def test_bad_patches_change_nothing(admin, client, body, field):
    rule = create(admin)
    response = admin.call("PATCH", f"{RULES}/{rule['id']}", json=body)
    assert response.status_code == 422 and response.json["error"]["details"] == {"field": field}
    assert client.get(f"{RULES}/{rule['id']}").json["rule"] == rule


def test_delete_then_404_and_its_alerts_stay(app, admin, client):
    rule = create(admin)
    with app.app_context():
        db.session.add(Alert(rule_id=rule["id"], state="firing", severity="warning"))
        db.session.commit()
    assert admin.call("DELETE", f"{RULES}/{rule['id']}").status_code == 204
    assert last_audit(client, "alert_rule.delete")["details"] == {"name": "High CPU"}
    for method in ("GET", "PATCH", "DELETE"):
        assert admin.call(method, f"{RULES}/{rule['id']}", json={"severity": "info"}).status_code == 404
    assert [(alert["rule_id"], alert["state"]) for alert in client.get("/admin/api/alerts").json["alerts"]] == [
        (None, "resolved")]


@pytest.mark.parametrize("change, ends", [
    ({"threshold": 95}, "rule condition changed"), ({"enabled": False}, "rule disabled"), ({"name": "CPU"}, None),
    ({"severity": "critical"}, None)])
def test_a_changed_condition_or_disabling_ends_open_episodes_at_once(app, admin, client, change, ends):
    rule = create(admin)
    with app.app_context():
        db.session.add(Alert(rule_id=rule["id"], state="firing", severity="warning", fingerprint="f1"))
        db.session.commit()
    published = []
    app.extensions["runtime"].hub.subscribe(lambda channel, items: published.append((channel, items)))
    assert admin.call("PATCH", f"{RULES}/{rule['id']}", json=change).status_code == 200
    [alert] = client.get("/admin/api/alerts").json["alerts"]
    if ends is None:
        assert alert["state"] == "firing" and published == []
        return
    assert alert["state"] == "resolved" and alert["resolved_at"]
    assert [(channel, [(item["previous_state"], item["state"]) for item in items]) for channel, items in published] == [
        ("alert", [("firing", "resolved")])]
    [entry] = client.get(f"/admin/api/alerts/{alert['id']}/history").json["history"]
    assert (entry["from_state"], entry["to_state"], entry["reason"]) == ("firing", "resolved", ends)


@pytest.mark.parametrize("rule_id", [0, 2**31, 2**63])
def test_unknown_or_impossible_ids_are_404(admin, rule_id):
    assert admin.call("GET", f"{RULES}/{rule_id}").status_code == 404


@pytest.mark.parametrize("method, path", [("POST", ""), ("PATCH", "/{id}"), ("DELETE", "/{id}")])
def test_viewers_read_but_cannot_write(admin, auth, client, method, path):
    rule = create(admin)
    auth.logout()
    auth.login_viewer()
    assert client.get(RULES).json["rules"] == [rule]
    response = auth.call(method, RULES + path.format(id=rule["id"]), json=CPU)
    assert response.status_code == 403
    assert client.get(RULES).json["rules"] == [rule]


def test_anonymous_callers_get_401(client):
    assert client.get(RULES).status_code == 401


def test_the_whole_round_trip_on_postgresql_migrated_to_head(postgres_url):
    migrations.upgrade(postgres_url)
    app = create_app(type("PostgresConfig", (TestConfig,), {"DATABASE_URL": postgres_url}))
    with app.app_context():
        users.create_user(db.session, *ADMIN, "admin", TestConfig.PASSWORD_HASH_METHOD)
        db.session.commit()
    admin = AuthActions(app.test_client())
    admin.login()
    rule = create(admin, source="metric", metric="checkout.latency_ms", filters={"region": "eu"}, group_by=["host"],
                  compare_offset_seconds=604800)
    changed = admin.call("PATCH", f"{RULES}/{rule['id']}", json={"group_by": [], "labels": {}}).json["rule"]
    assert (changed["group_by"], changed["labels"], changed["filters"]) == ([], {}, {"region": "eu"})
    assert admin.client.get(f"{RULES}/{rule['id']}").json["rule"] == changed
    assert admin.call("DELETE", f"{RULES}/{rule['id']}").status_code == 204
    assert admin.client.get(RULES).json["rules"] == []
    with app.app_context():
        db.session.remove()
    db.engine.dispose()
