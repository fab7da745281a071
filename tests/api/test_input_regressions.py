"""The five inputs that answered 500 (issue 13), each now a client error that says what was wrong."""
import pytest

DEEP_ARRAY = "[" * 5000 + "]" * 5000
LONE_SURROGATE = '{"username": "ab\\ud800c", "password": "long-enough-password"}'

CASES = [
    # (what, method, path, body as sent, status, what the error names)
    ("5,000-deep nested JSON to ingest", "POST", "/api/v1/events", DEEP_ARRAY, 400, None),
    ("path id larger than 64 bits", "DELETE", "/admin/api/api-keys/" + "9" * 30, None, 404, None),
    ("date at the calendar's first day", "GET", "/admin/api/export/transactions.csv?end=0001-01-01T00:00:00Z", None,
     400, {"parameter": "end"}),
    ("an object where a string is expected", "POST", "/admin/api/cache/clear", '{"namespace": {}}', 422,
     {"field": "namespace"}),
    ("a username holding a lone UTF-16 surrogate", "POST", "/admin/api/users", LONE_SURROGATE, 400,
     {"field": "username"}),
]


@pytest.mark.parametrize("what, method, path, body, status, details", CASES, ids=[case[0] for case in CASES])
def test_input_that_gave_500_is_a_client_error(admin, client, api_key, what, method, path, body, status, details):
    headers = admin.csrf_headers() | {"Authorization": f"Bearer {api_key}"}
    response = client.open(path, method=method, data=body, headers=headers,
                           content_type="application/json" if body is not None else None)
    assert response.status_code == status, response.text
    if details is not None:
        assert response.json["error"]["details"] == details


@pytest.mark.parametrize("username", ["Émile", "ÚSER", "ǅ"])
def test_a_taken_name_the_database_lowercases_differently_is_a_conflict(admin, username):
    """Found by the fuzzer: SQLite's lower() leaves non-ASCII letters alone, so the service's look-up missed the
    taken name and the insert hit the unique constraint."""
    body = {"username": username, "password": "long-enough-password"}
    assert admin.call("POST", "/admin/api/users", json=body).status_code == 201
    again = admin.call("POST", "/admin/api/users", json=body)
    assert again.status_code in (409, 422) and again.json["error"]["details"] == {"field": "username"}
