import pytest

from tests.conftest import csrf_token_in


def test_list_users(admin, client):
    users = client.get("/admin/api/users").json["users"]
    assert {(user["username"], user["role"]) for user in users} == {("admin", "admin"), ("viewer", "viewer")}
    assert all("password" not in str(user) for user in users)


def test_create_user_then_log_in_with_it(admin, app):
    response = admin.call("POST", "/admin/api/users", json={"username": "carol", "password": "carol-pass-1",
                                                            "role": "viewer"})
    assert response.status_code == 201
    assert response.json["username"] == "carol" and response.json["role"] == "viewer"
    other = app.test_client()
    token = csrf_token_in(other.get("/login").text)
    login = other.post("/login", data={"username": "carol", "password": "carol-pass-1", "csrf_token": token})
    assert login.status_code == 302


@pytest.mark.parametrize("payload, field", [
    ({"password": "long-enough", "role": "viewer"}, "username"),
    ({"username": "dave", "password": "short", "role": "viewer"}, "password"),
    ({"username": "dave", "password": "long-enough", "role": "root"}, "role"),
    ({"username": "ADMIN", "password": "long-enough", "role": "viewer"}, "username"),
])
def test_create_user_validation(admin, payload, field):
    response = admin.call("POST", "/admin/api/users", json=payload)
    assert response.status_code == 422
    assert response.json["error"]["details"] == {"field": field}


@pytest.mark.parametrize("body, content_type, status", [
    ("not json", "application/json", 400),
    ("[1, 2]", "application/json", 400),
    ("username=x", "application/x-www-form-urlencoded", 415),
])
def test_create_user_needs_a_json_object(admin, body, content_type, status):
    response = admin.call("POST", "/admin/api/users", data=body, content_type=content_type)
    assert response.status_code == status
    assert response.json["error"]["message"]


def test_patch_user_role_and_password(admin, client):
    viewer_id = next(u["id"] for u in client.get("/admin/api/users").json["users"] if u["username"] == "viewer")
    response = admin.call("PATCH", f"/admin/api/users/{viewer_id}", json={"role": "admin", "password": "new-pass-123"})
    assert response.status_code == 200 and response.json["role"] == "admin"
    entry = client.get("/admin/api/audit?action=user.update").json["entries"][0]
    assert entry["details"] == {"role": "admin", "password": "changed"}


def test_patch_unknown_user_is_404(admin):
    assert admin.call("PATCH", "/admin/api/users/999", json={"role": "admin"}).status_code == 404


def test_the_last_admin_cannot_demote_itself(admin, client):
    admin_id = next(u["id"] for u in client.get("/admin/api/users").json["users"] if u["role"] == "admin")
    response = admin.call("PATCH", f"/admin/api/users/{admin_id}", json={"role": "viewer"})
    assert response.status_code == 422


def test_delete_user(admin, client):
    viewer_id = next(u["id"] for u in client.get("/admin/api/users").json["users"] if u["username"] == "viewer")
    assert admin.call("DELETE", f"/admin/api/users/{viewer_id}").status_code == 204
    assert "viewer" not in {u["username"] for u in client.get("/admin/api/users").json["users"]}


def test_api_key_is_shown_once_and_listed_by_prefix(admin, client):
    created = admin.call("POST", "/admin/api/api-keys", json={"name": "billing"})
    assert created.status_code == 201
    assert set(created.json) >= {"id", "name", "key"}
    listed = client.get("/admin/api/api-keys").json["api_keys"]
    assert len(listed) == 1 and listed[0]["name"] == "billing"
    assert created.json["key"] not in str(listed)
    assert created.json["key"].startswith(listed[0]["prefix"])


def test_revoked_key_is_marked(admin, client):
    key_id = admin.call("POST", "/admin/api/api-keys", json={"name": "billing"}).json["id"]
    assert admin.call("DELETE", f"/admin/api/api-keys/{key_id}").status_code == 204
    assert client.get("/admin/api/api-keys").json["api_keys"][0]["revoked_at"]


def test_every_account_change_is_audited(admin, client):
    user_id = admin.call("POST", "/admin/api/users", json={"username": "erin", "password": "erin-pass-1"}).json["id"]
    admin.call("PATCH", f"/admin/api/users/{user_id}", json={"active": False})
    admin.call("DELETE", f"/admin/api/users/{user_id}")
    key_id = admin.call("POST", "/admin/api/api-keys", json={"name": "shop"}).json["id"]
    admin.call("DELETE", f"/admin/api/api-keys/{key_id}")
    entries = client.get("/admin/api/audit").json["entries"]
    assert [entry["action"] for entry in entries][:5] == [
        "api_key.revoke", "api_key.create", "user.delete", "user.update", "user.create"]
    assert {entry["actor"] for entry in entries[:5]} == {"admin"}
    assert all(entry["at"].endswith("+00:00") for entry in entries)
