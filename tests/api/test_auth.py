import pytest

from tests.conftest import ADMIN, csrf_token_in


def test_login_form_carries_a_csrf_token(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert csrf_token_in(response.text)


def test_login_then_dashboard(auth, client):
    response = auth.login()
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/dashboard"
    assert client.get("/admin/dashboard").status_code == 200


def test_one_generic_message_for_unknown_user_and_wrong_password(auth):
    unknown = auth.login("nobody", ADMIN[1])
    wrong = auth.login(ADMIN[0], "wrong-password")
    assert unknown.status_code == wrong.status_code == 200
    assert "Invalid username or password." in unknown.text
    assert "Invalid username or password." in wrong.text


def test_login_without_csrf_token_is_refused(client):
    response = client.post("/login", data={"username": ADMIN[0], "password": ADMIN[1]})
    assert response.status_code == 400
    assert client.get("/admin/dashboard").status_code == 302


@pytest.mark.parametrize("next_url, expected", [
    ("/admin/accounts", "/admin/accounts"),
    ("/admin/dashboard?range=1h", "/admin/dashboard?range=1h"),
    ("https://evil.example/", "/admin/dashboard"),
    ("//evil.example/", "/admin/dashboard"),
    ("/\\evil.example", "/admin/dashboard"),
    ("javascript:alert(1)", "/admin/dashboard"),
])
def test_next_is_followed_only_without_a_host(auth, next_url, expected):
    from urllib.parse import quote
    response = auth.login(next_url=quote(next_url, safe=""))
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_anonymous_page_redirects_to_login_with_next(client):
    response = client.get("/admin/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/admin/dashboard"


def test_sixth_failed_attempt_within_a_minute_is_throttled(auth):
    statuses = [auth.login(ADMIN[0], f"wrong-{attempt}").status_code for attempt in range(7)]
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429, 429]


def test_throttling_is_per_username_across_clients(app):
    clients = [app.test_client() for _ in range(6)]
    statuses = []
    for number, client in enumerate(clients):
        client.environ_base["REMOTE_ADDR"] = f"10.0.0.{number + 1}"
        token = csrf_token_in(client.get("/login").text)
        statuses.append(client.post("/login", data={"username": "Viewer", "password": "nope",
                                                    "csrf_token": token}).status_code)
    assert statuses == [200] * 5 + [429]


def test_successful_logins_do_not_count_against_the_limit(auth):
    for _ in range(7):
        assert auth.login().status_code == 302
        auth.logout()


def test_logout_needs_post_and_csrf(auth, client):
    auth.login()
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/admin/dashboard").status_code == 200
    assert auth.logout().headers["Location"] == "/login"
    assert client.get("/admin/dashboard").status_code == 302


def test_session_cookie_flags(auth):
    response = auth.login()
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_over_https(app):
    client = app.test_client()
    token = csrf_token_in(client.get("/login", base_url="https://localhost").text)
    response = client.post("/login", base_url="https://localhost",
                           data={"username": ADMIN[0], "password": ADMIN[1], "csrf_token": token})
    assert "Secure" in response.headers["Set-Cookie"]
    assert "Strict-Transport-Security" in response.headers


def test_passwords_never_reach_the_audit_log(auth, client):
    auth.login(ADMIN[0], "a-wrong-secret")
    auth.login()
    entries = client.get("/admin/api/audit").json["entries"]
    assert [entry["action"] for entry in entries][:2] == ["login", "login.failed"]
    assert "a-wrong-secret" not in str(entries) and ADMIN[1] not in str(entries)
