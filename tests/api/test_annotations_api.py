"""Annotations over HTTP: posted with an API key, listed by range and tag, deleted by admins (audited), pushed live."""
from datetime import UTC, datetime, timedelta

import pytest

POST = "/api/v1/annotations"
LIST = "/admin/api/annotations"


@pytest.fixture
def mark(client, api_key):
    def post(body, key=api_key):
        return client.post(POST, json=body, headers={"Authorization": f"Bearer {key}"})
    return post


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_create_list_filter_and_delete(mark, admin, client):
    now = datetime.now(UTC)
    deploy = mark({"text": "deploy v1.4", "tags": ["deploy", "api"]})
    assert deploy.status_code == 201, deploy.json
    body = deploy.json["annotation"]
    assert body["text"] == "deploy v1.4" and body["tags"] == ["deploy", "api"] and body["time_end"] is None
    assert body["created_by"] == "test-sender" and abs(datetime.fromisoformat(body["time"]) - now) < timedelta(seconds=5)
    incident = mark({"text": "db failover", "tags": ["incident"], "time": iso(now - timedelta(hours=2)),
                     "time_end": iso(now - timedelta(hours=1))}).json["annotation"]
    old = mark({"text": "last week", "time": iso(now - timedelta(days=7))}).json["annotation"]

    assert [item["id"] for item in client.get(LIST).json["annotations"]] == [body["id"], incident["id"]]
    assert [item["id"] for item in client.get(LIST, query_string={"tag": "incident"}).json["annotations"]] == [incident["id"]]
    week = client.get(LIST, query_string={"start": iso(now - timedelta(days=8)), "limit": 2}).json["annotations"]
    assert [item["id"] for item in week] == [body["id"], incident["id"]]
    ranged = client.get(LIST, query_string={"start": iso(now - timedelta(days=8)), "end": iso(now - timedelta(days=6))})
    assert ranged.json["annotations"] == [old]

    assert admin.call("DELETE", f"{LIST}/{body['id']}").status_code == 204
    assert [item["id"] for item in client.get(LIST).json["annotations"]] == [incident["id"]]
    entry = client.get("/admin/api/audit?action=annotation.delete").json["entries"][0]
    assert (entry["actor"], entry["target"], entry["details"]) == ("admin", f"annotation {body['id']}",
                                                                   {"text": "deploy v1.4"})
    assert admin.call("DELETE", f"{LIST}/{body['id']}").status_code == 404


def test_an_annotation_is_pushed_on_its_channel(app, mark):
    pushed = []
    app.extensions["runtime"].hub.subscribe(lambda channel, items: pushed.append((channel, items)))
    created = mark({"text": "deploy"}).json["annotation"]
    assert ("annotation", [created]) in pushed


@pytest.mark.parametrize("body, field", [
    ({"text": ""}, "text"),
    ({"text": "x", "tags": ["x" * 101]}, "tags"),
    ({"text": "x", "time": "2026-12-03T10:00:00"}, "time"),
    ({"text": "x", "time": "2026-12-03T10:00:00Z", "time_end": "2026-12-03T09:00:00Z"}, "time_end"),
    ({"text": "x", "colour": "red"}, "colour"),
])
def test_invalid_bodies_are_a_422_naming_the_field(mark, admin, client, body, field):
    response = mark(body)
    assert response.status_code == 422
    assert response.json["error"]["details"] == {"field": field}
    assert client.get(LIST).json["annotations"] == []


def test_not_json_and_not_an_object(client, api_key):
    headers = {"Authorization": f"Bearer {api_key}"}
    assert client.post(POST, data="text", headers=headers).status_code == 415
    assert client.post(POST, json=["text"], headers=headers).status_code == 400


def test_posting_needs_an_api_key(client, mark):
    assert client.post(POST, json={"text": "deploy"}).status_code == 401
    assert mark({"text": "deploy"}, key="pb_not-a-key").status_code == 401


def test_reading_needs_a_session_and_deleting_the_admin_role(mark, client, auth):
    created = mark({"text": "deploy"}).json["annotation"]
    assert client.get(LIST).status_code == 401
    auth.login_viewer()
    assert client.get(LIST).json["annotations"] == [created]
    assert auth.call("DELETE", f"{LIST}/{created['id']}").status_code == 403
    assert len(client.get(LIST).json["annotations"]) == 1


@pytest.mark.parametrize("query", [{"start": "soon"}, {"end": "1969-12-31T00:00:00Z"}, {"limit": "0"}, {"tag": "x" * 101}])
def test_bad_queries_are_a_400(admin, client, query):
    response = client.get(LIST, query_string=query)
    assert response.status_code == 400 and response.json["error"]["details"]["parameter"]


def test_annotation_routes_are_in_the_openapi_document(admin, client):
    paths = client.get("/admin/api/openapi.json").json["paths"]
    assert paths[POST]["post"]["security"] == [{"apiKey": []}]
    assert set(paths[LIST]) == {"get"} and set(paths[LIST + "/{annotation_id}"]) == {"delete"}

