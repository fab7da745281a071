"""Errors as JSON for scripts, and the security headers on every response."""
import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.parametrize("path", ["/healthz", "/login", "/admin/dashboard", "/admin/api/users", "/nowhere",
                                  "/admin/api/nowhere", "/static/css/app.css"])
def test_security_headers_on_every_response(client, path):
    with client.get(path) as response:  # a static file's response holds the file open until closed
        headers = response.headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"]


def test_no_template_carries_inline_script_or_handlers():
    for template in TEMPLATES.rglob("*.html"):
        html = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag, f"inline script in {template.name}"
        assert not re.search(r"\son[a-z]+\s*=", html), f"inline event handler in {template.name}"
        assert "style=" not in html, f"inline style in {template.name}"


def test_healthz_needs_no_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_unknown_api_path_is_json_404(auth, client):
    auth.login()
    response = client.get("/admin/api/nowhere")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_wrong_method_is_json_405_with_allow(auth, client):
    auth.login()
    response = client.put("/admin/api/audit")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_oversized_body_is_json_413(app, auth, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    auth.login()
    response = auth.call("POST", "/admin/api/users", data="x" * 4096, content_type="application/json")
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("value", ["abc", "0", "100000"])
def test_bounded_query_parameters(auth, client, value):
    auth.login()
    response = client.get(f"/admin/api/audit?limit={value}")
    assert response.status_code == 400
    assert response.json["error"]["details"] == {"parameter": "limit"}


def test_unexpected_errors_are_json_500_without_details(app, auth, client):
    @app.get("/admin/api/explode")
    def explode():
        raise RuntimeError("secret internals")

    auth.login()
    response = client.get("/admin/api/explode")
    assert response.status_code == 500
    assert "secret internals" not in response.text
    assert response.json["error"]["code"] == "internal_error"


def test_html_pages_get_html_errors(client):
    response = client.get("/nowhere", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
