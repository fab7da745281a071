"""Cache control, graceful degradation, health, performance, notifications, Prometheus and OpenAPI."""
import re
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import create_engine

from app_factory import create_app
from config import TestConfig
from extensions import db


def test_cache_stats_move_on_reads_clear_and_preload(admin, client):
    client.get("/admin/api/transactions/flow")
    client.get("/admin/api/transactions/flow")
    analytics = client.get("/admin/api/cache/stats").json["namespaces"]["analytics"]
    assert (analytics["hits"], analytics["misses"], analytics["size"]) == (1, 1, 1)
    assert analytics["hit_rate"] == 0.5 and analytics["ttl"] == 120

    cleared = admin.call("POST", "/admin/api/cache/clear", json={"namespace": "analytics"}).json
    assert cleared["removed"] == 1 and cleared["stats"]["namespaces"]["analytics"]["size"] == 0

    warmed = admin.call("POST", "/admin/api/cache/preload").json
    assert warmed["warmed"] >= 5
    sizes = {name: ns["size"] for name, ns in warmed["stats"]["namespaces"].items()}
    assert sizes["analytics"] >= 3 and sizes["revenue"] >= 1 and sizes["live"] >= 1
    before = client.get("/admin/api/cache/stats").json["namespaces"]["analytics"]["hits"]
    client.get("/admin/api/transactions/flow")
    assert client.get("/admin/api/cache/stats").json["namespaces"]["analytics"]["hits"] == before + 1


def test_clear_all_and_unknown_namespace(admin, client):
    client.get("/admin/api/transactions/flow")
    assert admin.call("POST", "/admin/api/cache/clear").json["cleared"] == "all"
    unknown = admin.call("POST", "/admin/api/cache/clear", json={"namespace": "nope"})
    assert unknown.status_code == 422 and "unknown cache namespace" in unknown.json["error"]["message"]


def test_cache_actions_are_audited(admin, client):
    admin.call("POST", "/admin/api/cache/clear", json={"namespace": "live"})
    admin.call("POST", "/admin/api/cache/preload")
    actions = [entry["action"] for entry in client.get("/admin/api/audit").json["entries"]]
    assert actions[:2] == ["cache.preload", "cache.clear"]


def test_ingest_invalidates_the_answers_it_changes(admin, client, send):
    assert client.get("/admin/api/transactions").json["transactions"] == []
    send({"transactions": [{"id": "x", "amount": "5", "currency": "USD", "status": "completed", "user_id": "u"}]})
    assert [row["id"] for row in client.get("/admin/api/transactions").json["transactions"]] == ["x"]


@pytest.fixture
def unreachable_database(app):
    """Point the app's sessions at a PostgreSQL port where nothing listens, then restore them."""
    working = db.engine
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})

    def cut():
        db.session.remove()
        db.session.configure(bind=dead)

    def restore():
        db.session.remove()
        db.session.configure(bind=working)

    yield cut, restore
    restore()
    dead.dispose()


def test_reads_answer_stale_while_the_database_is_down(admin, client, send, unreachable_database, app):
    cut, restore = unreachable_database
    send({"transactions": [{"id": "x", "amount": "5", "currency": "USD", "status": "completed", "user_id": "u"}]})
    fresh = client.get("/admin/api/transactions/flow").json
    assert "stale" not in fresh
    cut()
    app.extensions["runtime"].cache.invalidate("analytics")  # force a recompute against the dead database
    stale = client.get("/admin/api/transactions/flow")
    assert stale.status_code == 200 and stale.json["stale"] is True
    assert stale.json["total_count"] == fresh["total_count"] == 1
    for _ in range(3):
        client.get("/admin/api/transactions/flow")
    health = client.get("/admin/api/health")
    assert health.status_code == 503 and health.json["status"] == "degraded"
    assert health.json["components"]["database"]["status"] == "down"
    assert health.json["components"]["circuit_breaker"]["state"] == "open"
    nothing_cached = client.get("/admin/api/user-activity?minutes=7")
    assert nothing_cached.status_code == 503 and nothing_cached.json["error"]["code"] == "unavailable"

    restore()
    time.sleep(TestConfig.BREAKER_RESET_SECONDS + 0.1)
    recovered = client.get("/admin/api/transactions/flow")
    assert recovered.status_code == 200 and "stale" not in recovered.json
    assert client.get("/admin/api/health").status_code == 200


def test_health_is_healthy_with_every_component(admin, client):
    body = client.get("/admin/api/health").json
    assert body["status"] == "healthy"
    assert set(body["components"]) == {"database", "cache", "realtime", "message_queue", "background_jobs",
                                       "circuit_breaker", "cluster", "ingest_writer"}
    assert body["components"]["ingest_writer"] == {"status": "ok", "mode": "inline", "waiting": 0}
    me = f"{body['host']}:{body['pid']}"  # without a message queue the process is a cluster of one, and its leader
    assert body["components"]["cluster"]["leader"] == me and len(body["components"]["cluster"]["processes"]) == 1


def test_performance_stats_count_the_requests_made(admin, client):
    for _ in range(5):
        client.get("/admin/api/audit")
    client.get("/admin/api/nowhere")
    body = client.get("/admin/api/performance/stats?minutes=5").json
    audit = next(e for e in body["endpoints"] if e["endpoint"] == "/admin/api/audit" and e["method"] == "GET")
    assert audit["count"] == 5 and audit["error_rate"] == 0
    assert 0 < audit["p50_ms"] <= audit["p95_ms"] <= audit["p99_ms"]
    covered = datetime.fromisoformat(body["until"]) - datetime.fromisoformat(body["since"])
    assert timedelta(minutes=5) <= covered < timedelta(minutes=6)
    assert audit["rps"] == pytest.approx(5 / covered.total_seconds())
    assert any(e["endpoint"] == "<unmatched>" for e in body["endpoints"])
    assert body["monitor_overhead_us"] > 0
    assert body["summary"]["count"] >= 6


def test_metrics_live_has_kpis_and_performance(admin, client, send):
    send({"transactions": [{"id": "k", "amount": "12.5", "currency": "EUR", "status": "completed", "user_id": "u"}],
          "activities": [{"user_id": "u", "action": "login"}, {"user_id": "v", "action": "view"}]})
    body = client.get("/admin/api/metrics/live").json
    assert body["kpis"]["revenue_today"] == {"EUR": "12.50"}
    assert body["kpis"]["transactions_per_minute"] == 1 and body["kpis"]["active_users"] == 2
    assert body["kpis"]["success_rate"] == 1.0
    assert body["performance"]["count"] >= 1


def test_notifications_are_stored_audited_and_published(admin, client, app):
    received = []
    app.extensions["runtime"].hub.subscribe(lambda channel, items: received.append((channel, items)))
    created = admin.call("POST", "/admin/api/notifications", json={"title": "Deploy at 5", "level": "warning"})
    assert created.status_code == 201
    assert client.get("/admin/api/notifications").json["notifications"][0]["title"] == "Deploy at 5"
    assert received == [("notification", [created.json])]
    assert client.get("/admin/api/audit").json["entries"][0]["action"] == "notification.send"


@pytest.mark.parametrize("payload, field", [({}, "title"), ({"title": "x", "level": "panic"}, "level"),
                                            ({"title": "x", "message": 5}, "message")])
def test_notification_validation(admin, payload, field):
    response = admin.call("POST", "/admin/api/notifications", json=payload)
    assert response.status_code == 422 and response.json["error"]["details"] == {"field": field}


def test_prometheus_needs_admin_or_token(client, auth, app):
    assert client.get("/metrics").status_code == 401
    app.config["METRICS_TOKEN"] = "scrape-me"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert scraped.status_code == 200 and scraped.mimetype == "text/plain"
    auth.login_viewer()
    assert client.get("/metrics").status_code == 401


def test_prometheus_exposition_format(admin, client, send):
    send({"metrics": [{"name": "m", "value": 1}]})
    client.get("/admin/api/audit")
    text = client.get("/metrics").data.decode()
    assert 'pulseboard_ingested_items_total{kind="metrics"} 1' in text
    assert re.search(r'pulseboard_request_duration_ms_count\{endpoint="/admin/api/audit",method="GET"\} 1', text)
    assert 'pulseboard_cache_hits_total{namespace="analytics"}' in text
    for line in text.strip().splitlines():
        assert line.startswith("#") or re.match(r'^[a-z_]+(\{[^}]*\})? -?[0-9.e+]+$', line), line


def openapi_paths_from_routes():
    routes = set()
    for rule in create_app(TestConfig).url_map.iter_rules():
        # Pages under the API's prefix (the API docs page, of the admin blueprint) are not operations.
        if rule.rule.startswith(("/admin/api/", "/api/")) and not rule.endpoint.startswith("admin."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            routes |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_openapi_describes_exactly_the_routes(admin, client):
    document = client.get("/admin/api/openapi.json").json
    assert document["openapi"].startswith("3.")
    described = {(path, method) for path, methods in document["paths"].items() for method in methods}
    assert described == openapi_paths_from_routes()
    for methods in document["paths"].values():
        for operation in methods.values():
            assert operation["summary"] and "default" in operation["responses"]
