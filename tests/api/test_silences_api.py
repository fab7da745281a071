"""Silences over HTTP: create, list, get and expire; 422 naming the field; admin-only writes, each audited; the
instances a change mutes or unmutes pushed as `alert` at once."""
from datetime import UTC, datetime, timedelta

import pytest

from app_factory import create_app
from config import TestConfig
from database import Alert
from extensions import db
from services.accounts import users
from services.runtime import migrations
from tests.conftest import ADMIN, AuthActions

SILENCES = "/admin/api/silences"
MATCHERS = [{"name": "host", "op": "=", "value": "web-1"}, {"name": "alertname", "op": "=~", "value": "High .*"}]


def later(**delta) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def body(**changes) -> dict:
    return {"matchers": MATCHERS, "ends_at": later(hours=2), "comment": "kernel upgrade on web-1"} | changes


def create(admin, **changes) -> dict:
    response = admin.call("POST", SILENCES, json=body(**changes))
    assert response.status_code == 201, response.json
    return response.json["silence"]


def add_alert(app, host: str, state: str = "firing") -> int:
    with app.app_context():
        alert = Alert(state=state, severity="critical", labels={"alertname": "High CPU", "severity": "critical",
                                                                "host": host})
        db.session.add(alert)
        db.session.commit()
        return alert.id


def audit(client, action: str) -> list[dict]:
    return client.get(f"/admin/api/audit?action={action}").json["entries"]


def test_create_list_get_and_expire(admin, client):
    silence = create(admin)
    assert silence["matchers"] == MATCHERS and silence["created_by"] == "admin" and silence["status"] == "active"
    assert silence["comment"] == "kernel upgrade on web-1" and silence["starts_at"] <= silence["created_at"]
    assert client.get(SILENCES).json["silences"] == [silence]
    assert client.get(f"{SILENCES}/{silence['id']}").json["silence"] == silence

    response = admin.call("DELETE", f"{SILENCES}/{silence['id']}")
    assert response.status_code == 200
    expired = response.json["silence"]
    assert expired["status"] == "expired" and silence["starts_at"] < expired["ends_at"] < silence["ends_at"]
    assert client.get(f"{SILENCES}/{silence['id']}").json["silence"] == expired
    assert admin.call("DELETE", f"{SILENCES}/{silence['id']}").status_code == 409


def test_writes_are_audited(admin, client):
    silence = create(admin)
    admin.call("DELETE", f"{SILENCES}/{silence['id']}")
    [created], [expired] = audit(client, "silence.create"), audit(client, "silence.expire")
    assert (created["actor"], created["target"]) == ("admin", f"silence {silence['id']}")
    assert created["details"] == {"matchers": MATCHERS, "ends_at": silence["ends_at"], "instances": 0}
    assert expired["target"] == f"silence {silence['id']}" and expired["details"]["matchers"] == MATCHERS


def test_listing_filters_by_status_newest_first(admin, client):
    active = create(admin)
    pending = create(admin, starts_at=later(hours=1))
    ended = create(admin)
    admin.call("DELETE", f"{SILENCES}/{ended['id']}")
    assert pending["status"] == "pending"
    assert [s["id"] for s in client.get(SILENCES).json["silences"]] == [ended["id"], pending["id"], active["id"]]
    assert [s["id"] for s in client.get(SILENCES + "?limit=1").json["silences"]] == [ended["id"]]
    for status, silence in (("active", active), ("pending", pending), ("expired", ended)):
        assert [s["id"] for s in client.get(f"{SILENCES}?status={status}").json["silences"]] == [silence["id"]]
    assert client.get(SILENCES + "?status=muted").status_code == 400
    assert client.get(SILENCES + "?limit=0").status_code == 400


@pytest.mark.parametrize("changes, field", [
    ({"matchers": []}, "matchers"),
    ({"matchers": [{"name": "host", "op": "==", "value": "web-1"}]}, "matchers"),
    ({"matchers": [{"name": "host-name", "op": "=", "value": "web-1"}]}, "matchers"),
    ({"matchers": [{"name": "host", "op": "=", "value": 1}]}, "matchers"),
    ({"matchers": [{"name": "host", "op": "=~", "value": "web-("}]}, "matchers"),
    ({"matchers": [{"name": "host", "op": "=~", "value": ".*"}]}, "matchers"),
    ({"matchers": None}, "matchers"),
    ({"starts_at": "2026-12-03T12:00:00"}, "starts_at"),
    ({"starts_at": 1}, "starts_at"),
    ({"ends_at": "2000-01-01T00:00:00Z"}, "ends_at"),
    ({"ends_at": "9999-12-31T23:59:59-01:00"}, "ends_at"),
    ({"ends_at": later(days=400)}, "ends_at"),
    ({"starts_at": later(hours=3)}, "ends_at"),
    ({"comment": " "}, "comment"),
    ({"comment": ["x"]}, "comment"),
    ({"created_by": "mallory"}, "created_by"),
])
def test_invalid_silences_are_a_422_naming_the_field(admin, client, changes, field):
    response = admin.call("POST", SILENCES, json=body(**changes))
    assert response.status_code == 422, response.json
    assert response.json["error"]["details"] == {"field": field} and response.json["error"]["message"]
    assert client.get(SILENCES).json["silences"] == []


@pytest.mark.parametrize("missing", ["matchers", "ends_at", "comment"])
def test_required_fields_are_named(admin, missing):
    response = admin.call("POST", SILENCES, json={k: v for k, v in body().items() if k != missing})
    assert response.status_code == 422 and response.json["error"]["details"] == {"field": missing}


@pytest.mark.parametrize("raw, content_type, status", [
    ("[]", "application/json", 400), ("{", "application/json", 400), ("comment=x", "text/plain", 415)])
def test_a_silence_body_is_a_json_object(admin, raw, content_type, status):
    assert admin.call("POST", SILENCES, data=raw, content_type=content_type).status_code == status


@pytest.mark.parametrize("silence_id", [999, 2**31, 2**63])
def test_unknown_silences_are_404(admin, silence_id):
    assert admin.call("GET", f"{SILENCES}/{silence_id}").status_code == 404
    assert admin.call("DELETE", f"{SILENCES}/{silence_id}").status_code == 404


@pytest.mark.parametrize("method, path", [("POST", ""), ("DELETE", "/{id}")])
def test_viewers_read_but_cannot_write(admin, auth, client, method, path):
    silence = create(admin)
    auth.logout()
    auth.login_viewer()
    assert client.get(SILENCES).json["silences"] == [silence]
    assert client.get(f"{SILENCES}/{silence['id']}").status_code == 200
    assert auth.call(method, SILENCES + path.format(id=silence["id"]), json=body()).status_code == 403
    assert client.get(SILENCES).json["silences"] == [silence]


@pytest.mark.parametrize("method, path", [("GET", ""), ("GET", "/1"), ("POST", ""), ("DELETE", "/1")])
def test_anonymous_callers_get_401(client, method, path):
    assert client.open(SILENCES + path, method=method, json=body()).status_code == 401


def test_muted_and_unmuted_instances_are_pushed_at_once(app, admin, client):
    muted, other = add_alert(app, "web-1"), add_alert(app, "db-1")
    resolved = add_alert(app, "web-1", "resolved")
    published = []
    app.extensions["runtime"].hub.subscribe(lambda channel, items: published.append((channel, items)))

    silence = create(admin)
    [(channel, [item])] = published
    assert channel == "alert" and item["id"] == muted and item["silenced"] is True
    assert item["previous_state"] == item["state"] == "firing"  # a flag changed, not the state
    listed = {alert["id"]: alert["silenced"] for alert in client.get("/admin/api/alerts").json["alerts"]}
    assert listed == {muted: True, other: False, resolved: False}
    assert audit(client, "silence.create")[0]["details"]["instances"] == 1

    published.clear()
    create(admin, comment="a second silence over the same instance")
    assert published == []  # nothing changed, nothing pushed

    admin.call("DELETE", f"{SILENCES}/{silence['id']}")
    assert published == []  # the second silence still mutes it
    latest = client.get(f"{SILENCES}?status=active").json["silences"][0]
    admin.call("DELETE", f"{SILENCES}/{latest['id']}")
    [(channel, [item])] = published
    assert channel == "alert" and item["id"] == muted and item["silenced"] is False


def test_a_pending_silence_mutes_nothing_yet(app, admin, client):
    add_alert(app, "web-1")
    create(admin, starts_at=later(hours=1))
    assert [alert["silenced"] for alert in client.get("/admin/api/alerts").json["alerts"]] == [False]


def test_the_round_trip_on_postgresql_migrated_to_head(postgres_url):
    migrations.upgrade(postgres_url)
    app = create_app(type("PostgresConfig", (TestConfig,), {"DATABASE_URL": postgres_url}))
    with app.app_context():
        users.create_user(db.session, *ADMIN, "admin", TestConfig.PASSWORD_HASH_METHOD)
        db.session.commit()
    muted = add_alert(app, "web-1")
    admin = AuthActions(app.test_client())
    admin.login()
    active, pending = create(admin), create(admin, starts_at=later(days=1), ends_at=later(days=2))
    assert [s["id"] for s in admin.client.get(SILENCES + "?status=pending").json["silences"]] == [pending["id"]]
    assert admin.client.get(f"{SILENCES}/{active['id']}").json["silence"] == active
    assert [a["silenced"] for a in admin.client.get("/admin/api/alerts").json["alerts"] if a["id"] == muted] == [True]
    assert admin.call("DELETE", f"{SILENCES}/{active['id']}").json["silence"]["status"] == "expired"
    assert [s["id"] for s in admin.client.get(SILENCES + "?status=expired").json["silences"]] == [active["id"]]
    with app.app_context():
        db.session.remove()
    db.engine.dispose()
