"""A real `python app.py` on a free port, driven over HTTP as a newcomer and a script would."""
import re
import subprocess
import sys

import requests

from tests.servers import LIVE_ADMIN, ROOT, login_session


def test_first_start_prints_url_and_credentials_that_log_in(server_factory):
    server = server_factory()
    output = server.output()
    assert f"{server.url}/admin/dashboard" in output
    username = re.search(r"username: (\S+)", output).group(1)
    password = re.search(r"password: (\S+)", output).group(1)
    session = login_session(server, username, password)
    assert session.get(server.url + "/admin/dashboard", timeout=5).status_code == 200


def test_anonymous_dashboard_redirects_to_login(live_server):
    response = requests.get(live_server.url + "/admin/dashboard", allow_redirects=False, timeout=5)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login?next=/admin/dashboard")


def test_anonymous_api_gets_401_json(live_server):
    response = requests.get(live_server.url + "/admin/api/users", timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_security_headers_from_the_real_server(live_server):
    for path in ("/login", "/healthz", "/static/css/app.css", "/nowhere"):
        headers = requests.get(live_server.url + path, timeout=5).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"], path
        assert headers["X-Frame-Options"] == "DENY"


def test_front_end_packages_are_served_locally(live_server):
    for name in ("chart.umd.min.js", "socket.io.min.js"):
        response = requests.get(f"{live_server.url}/static/vendor/{name}", timeout=5)
        assert response.status_code == 200 and len(response.content) > 10_000, name


def test_admin_creates_viewer_who_is_refused_writes(live_server):
    admin = login_session(live_server)
    created = admin.post(live_server.url + "/admin/api/users",
                         json={"username": "e2e-viewer", "password": "viewer-pass-1", "role": "viewer"}, timeout=10)
    assert created.status_code == 201, created.text
    viewer = login_session(live_server, "e2e-viewer", "viewer-pass-1")
    assert viewer.get(live_server.url + "/admin/api/users", timeout=5).status_code == 200
    refused = viewer.post(live_server.url + "/admin/api/api-keys", json={"name": "nope"}, timeout=5)
    assert refused.status_code == 403


def test_write_without_csrf_header_is_refused(live_server):
    admin = login_session(live_server)
    del admin.headers["X-CSRFToken"]
    response = admin.post(live_server.url + "/admin/api/api-keys", json={"name": "no-token"}, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "csrf_failed"


def test_cli_writes_to_the_servers_database(live_server):
    env = live_server.env | {"FLASK_APP": "app"}
    subprocess.run([sys.executable, "-m", "flask", "users", "create", "cli-made", "--role", "viewer",
                    "--password", "cli-made-pass"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
    session = login_session(live_server, "cli-made", "cli-made-pass")
    assert session.get(live_server.url + "/admin/dashboard", timeout=5).status_code == 200


def test_seventh_wrong_password_is_throttled(server_factory):
    server = server_factory(ADMIN_PASSWORD=LIVE_ADMIN[1])
    session = requests.Session()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      session.get(server.url + "/login", timeout=5).text).group(1)
    statuses = [session.post(server.url + "/login", data={"username": "admin", "password": f"wrong-{n}",
                                                          "csrf_token": token}, timeout=10).status_code
                for n in range(7)]
    assert statuses[:5] == [200] * 5
    assert 429 in statuses[5:]
