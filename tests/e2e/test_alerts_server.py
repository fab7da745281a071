"""Alerts end to end on a real server: a rule on a custom metric fed through the ingest API, its `alert` events
at a real Socket.IO client and over SSE, webhooks at a real HTTP receiver (a 500 retried, a 400 dead), a silence
that mutes the webhook but not the state, ack in the audit log, and 403 for a viewer on every write."""
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.e2e.realtime_clients import SocketClient, SseReader
from tests.e2e.test_ingest_server import create_api_key
from tests.servers import LIVE_ADMIN, login_session, start_server
from tests.webhook_receiver import WebhookReceiver

VIEWER = ("alerts-viewer", "viewer-password-1")
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).isoformat()
INTERVAL = 0.5


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = start_server(tmp_path_factory.mktemp("alerts"), ADMIN_PASSWORD=LIVE_ADMIN[1],
                           ALERT_EVALUATION_INTERVAL=str(INTERVAL), INGEST_RATE_LIMIT="10000 per second")
    process.api_key = create_api_key(process)
    admin = login_session(process)
    created = admin.post(process.url + "/admin/api/users", json={"username": VIEWER[0], "password": VIEWER[1],
                                                                 "role": "viewer"}, timeout=10)
    assert created.status_code == 201, created.text
    admin.close()
    yield process
    process.stop()


@pytest.fixture
def admin(server):
    session = login_session(server)
    yield session
    session.close()


def post(session, server, path, body=None, status=201):
    response = session.post(server.url + "/admin/api" + path, json=body or {}, timeout=10)
    assert response.status_code == status, response.text
    return response.json()


def push(server, name, *values, **tags):
    points = [{"name": name, "value": value, "tags": tags} for value in values]
    response = requests.post(server.url + "/api/v1/events", json={"metrics": points}, timeout=10,
                             headers={"Authorization": f"Bearer {server.api_key}"})
    assert response.status_code == 202, response.text


def rule_body(name, metric, **fields):
    return {"name": name, "source": "metric", "metric": metric, "aggregation": "avg", "window_seconds": 60,
            "comparator": ">", "threshold": 100} | fields


def alert_states(client, rule_name):
    return [(item["previous_state"], item["state"]) for payload in client.payloads("alert")
            for item in payload["items"] if item["rule_name"] == rule_name]


def wait_until(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_rule_fires_and_resolves_live_with_webhooks_retried_and_dead_lettered(server, admin):
    client = SocketClient(server, admin)
    client.emit("join_room", {"room": "alerts"})
    client.emit("join_room", {"room": "notifications"})
    stream = admin.get(server.url + "/admin/api/stream?channels=alert", stream=True, timeout=30)
    sse = SseReader(stream)
    with WebhookReceiver(statuses=[500, 200]) as flaky, WebhookReceiver(statuses=[400]) as refusing:
        ops = post(admin, server, "/receivers", {"name": "ops", "url": flaky.url})["receiver"]
        broken = post(admin, server, "/receivers", {"name": "broken", "url": refusing.url, "format": "slack"})["receiver"]
        # The point first: a pass between the rule and the point would see no data (nodata) before pending.
        push(server, "e2e.queue", 150)
        rule = post(admin, server, "/alert-rules", rule_body("Queue deep", "e2e.queue", for_seconds=1,
                                                            annotations={"summary": "depth {{ $value }}"}))["rule"]
        client.wait_for(lambda events: ("pending", "firing") in alert_states(client, "Queue deep"))
        assert alert_states(client, "Queue deep")[:2] == [("normal", "pending"), ("pending", "firing")]

        # The flaky receiver answers 500 then 200: retried once, then delivered.
        flaky.wait_for(2, timeout=15)
        assert [request["status"] for request in flaky.requests] == [500, 200]
        body = flaky.requests[1]["body"]
        assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "ops"
        [alert] = body["alerts"]
        assert alert["labels"]["alertname"] == "Queue deep" and alert["annotations"]["summary"] == "depth 150"
        assert alert["generatorURL"].startswith(server.url)
        delivered = wait_until(lambda: [(row["status"], row["attempts"]) for row in admin.get(
            f"{server.url}/admin/api/receivers/{ops['id']}/deliveries", timeout=5).json()["deliveries"]
            if row["status"] != "pending"], what="the delivery's outcome")
        assert delivered == [("delivered", 2)]

        # The refusing one answers 400: final at once, a dead letter, never retried.
        dead = wait_until(lambda: [row for row in admin.get(f"{server.url}/admin/api/receivers/{broken['id']}/deliveries",
                                                             timeout=5).json()["deliveries"] if row["status"] == "dead"],
                          what="a dead letter")
        assert [(row["attempts"], row["last_status_code"]) for row in dead] == [(1, 400)]

        # Lower values bring the average under the threshold: resolved, and one resolved webhook.
        push(server, "e2e.queue", *[10] * 20)
        client.wait_for(lambda events: ("firing", "resolved") in alert_states(client, "Queue deep"))
        flaky.wait_for(3, timeout=15)
        assert flaky.requests[2]["body"]["status"] == "resolved"
        refusing.wait_for(2, timeout=15)  # its resolved, refused too
        time.sleep(4 * INTERVAL)
        assert len(flaky.requests) == 3 and len(refusing.requests) == 2  # nothing twice, no retry of a 400
        letters = admin.get(f"{server.url}/admin/api/receivers/{broken['id']}/deliveries", timeout=5).json()["deliveries"]
        assert [(row["kind"], row["status"], row["attempts"]) for row in letters] == [
            ("resolved", "dead", 1), ("firing", "dead", 1)]
        frames = sse.read_until(lambda frames: any(f.get("event") == "alert" and '"resolved"' in f.get("data", "")
                                                   for f in frames))
        sse_states = [(item["previous_state"], item["state"]) for frame in frames if frame.get("event") == "alert"
                      for item in json.loads(frame["data"])["items"]]
        assert sse_states == [("normal", "pending"), ("pending", "firing"), ("firing", "resolved")]
        titles = [item["title"] for payload in client.payloads("notification") for item in payload["items"]]
        assert titles == ["Firing: Queue deep", "Resolved: Queue deep"]
        instance = admin.get(server.url + "/admin/api/alerts", timeout=5).json()["alerts"][0]
        history = admin.get(f"{server.url}/admin/api/alerts/{instance['id']}/history", timeout=5).json()["history"]
        assert [(entry["from_state"], entry["to_state"]) for entry in reversed(history)] == [
            ("normal", "pending"), ("pending", "firing"), ("firing", "resolved")]
        admin.delete(f"{server.url}/admin/api/alert-rules/{rule['id']}", timeout=5)
    sse.close()
    client.close()


def test_a_silence_mutes_the_webhook_but_not_the_state_and_ack_is_audited(server, admin):
    client = SocketClient(server, admin)
    client.emit("join_room", {"room": "alerts"})
    with WebhookReceiver(statuses=[200]) as hook:
        post(admin, server, "/receivers", {"name": "silenced-ops", "url": hook.url})
        post(admin, server, "/silences", {"matchers": [{"name": "alertname", "op": "=", "value": "Disk full"}],
                                          "ends_at": TOMORROW, "comment": "planned maintenance"})
        push(server, "e2e.disk", 500)
        post(admin, server, "/alert-rules", rule_body("Disk full", "e2e.disk"))
        client.wait_for(lambda events: ("normal", "firing") in alert_states(client, "Disk full"))
        [item] = [item for payload in client.payloads("alert") for item in payload["items"]
                  if item["rule_name"] == "Disk full"]
        assert item["silenced"] is True
        time.sleep(6 * INTERVAL)  # several passes and the worker's polls: still nothing sent
        assert hook.requests == []

    alert_id = item["id"]
    acked = post(admin, server, f"/alerts/{alert_id}/ack", status=200)["alert"]
    assert acked["state"] == "firing" and acked["acknowledged_by"] == LIVE_ADMIN[0]
    entry = admin.get(server.url + "/admin/api/audit?action=alert.ack", timeout=5).json()["entries"][0]
    assert (entry["actor"], entry["target"]) == (LIVE_ADMIN[0], f"alert {alert_id}")
    client.wait_for(lambda events: any(item.get("acknowledged_by") for payload in client.payloads("alert")
                                       for item in payload["items"]))
    client.close()


def test_a_viewer_reads_alerts_but_every_write_is_403(server, admin):
    push(server, "e2e.viewer", 1000)
    rule = post(admin, server, "/alert-rules", rule_body("Viewer check", "e2e.viewer"))["rule"]
    receiver = post(admin, server, "/receivers", {"name": "viewer-check", "url": "http://127.0.0.1:9/hook"})["receiver"]
    silence = post(admin, server, "/silences", {"matchers": [{"name": "alertname", "op": "=", "value": "x"}],
                                                "ends_at": TOMORROW, "comment": "check"})["silence"]
    alert_id = wait_until(lambda: next((a["id"] for a in admin.get(server.url + "/admin/api/alerts", timeout=5)
                                        .json()["alerts"] if a["rule_name"] == "Viewer check"), None), what="an alert")
    viewer = login_session(server, *VIEWER)
    base = server.url + "/admin/api"
    for method, path in [("POST", "/alert-rules"), ("PATCH", f"/alert-rules/{rule['id']}"),
                         ("DELETE", f"/alert-rules/{rule['id']}"), ("POST", f"/alert-rules/{rule['id']}/preview"),
                         ("POST", f"/alerts/{alert_id}/ack"), ("POST", "/silences"), ("DELETE", f"/silences/{silence['id']}"),
                         ("POST", "/receivers"), ("PATCH", f"/receivers/{receiver['id']}"),
                         ("DELETE", f"/receivers/{receiver['id']}"), ("POST", f"/receivers/{receiver['id']}/test"),
                         ("POST", "/deliveries/1/retry")]:
        response = viewer.request(method, base + path, json={}, timeout=5)
        assert response.status_code == 403, (method, path, response.status_code)
    for path in ["/alert-rules", "/alerts", f"/alerts/{alert_id}/history", "/silences", "/receivers",
                 f"/receivers/{receiver['id']}/deliveries"]:
        assert viewer.get(base + path, timeout=5).status_code == 200, path
    viewer.close()
    assert "Traceback" not in server.output()
