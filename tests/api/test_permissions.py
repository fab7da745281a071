"""Every route of the admin API and pages, walked from the app's own URL map."""
import pytest

from app_factory import create_app
from blueprints.permissions import OWN_WRITES
from config import TestConfig

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def routes(prefix: str, methods: set[str], exclude: str = "\0", skip_endpoints: frozenset = frozenset()):
    app = create_app(TestConfig)
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(prefix) and not rule.rule.startswith(exclude) and rule.endpoint not in skip_endpoints:
            path = rule.rule
            for argument in rule.arguments:
                path = path.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "x")
            found += [(method, path) for method in sorted(rule.methods & methods)]
    assert found, f"no routes under {prefix}"
    return found


@pytest.mark.parametrize("method, path", routes("/admin/api/", {"GET", *WRITE_METHODS}))
def test_anonymous_api_calls_get_401_json(client, method, path):
    response = client.open(path, method=method, json={})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert "Location" not in response.headers


@pytest.mark.parametrize("method, path", routes("/admin/", {"GET"}, exclude="/admin/api/"))
def test_anonymous_pages_redirect_to_login(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


# A viewer's own explorer pins are theirs to write (tests/api/test_explorer_api.py keeps them to their own).
@pytest.mark.parametrize("method, path", routes("/admin/api/", WRITE_METHODS, skip_endpoints=OWN_WRITES))
def test_viewers_get_403_on_every_state_changing_call(auth, method, path):
    auth.login_viewer()
    response = auth.call(method, path, json={})
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"


@pytest.mark.parametrize("method, path", routes("/admin/api/", WRITE_METHODS))
def test_writes_without_the_csrf_header_are_refused(auth, client, method, path):
    auth.login()
    response = client.open(path, method=method, json={})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "csrf_failed"


def test_viewers_can_read(auth, client):
    auth.login_viewer()
    assert client.get("/admin/dashboard").status_code == 200
    assert client.get("/admin/api/users").status_code == 200


def test_viewers_cannot_open_the_accounts_page(auth, client):
    auth.login_viewer()
    assert client.get("/admin/accounts").status_code == 403
