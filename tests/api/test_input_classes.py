"""Each class of bad input, on every place it can enter: path ids, time parameters, free-text parameters,
JSON field types, text that cannot be stored, and nesting depth. Never a 500: a client error naming the culprit.

The places are listed from the routes and the OpenAPI document (a test keeps the two equal), so a new field
or parameter is covered without editing this file.
"""
import json
import re

import pytest
from werkzeug.routing import IntegerConverter

from app_factory import create_app
from blueprints.http import EARLIEST_QUERY_TIME, LATEST_QUERY_TIME
from config import TestConfig
from services.ingest.event_schema import MAX_JSON_DEPTH
from services.openapi import spec

DOCUMENT = spec.document()
JSON_TYPES = {"string": str, "boolean": bool, "integer": int, "number": (int, float), "object": dict, "array": list}
WRONG_VALUES = [{}, [], 7, 1.5, True, "text"]
OUT_OF_CALENDAR = ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59Z",
                   "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z", "2100-01-01T00:00:01Z"]
INSIDE_THE_CALENDAR = ["1970-01-01T00:00:00Z", "2100-01-01T00:00:00Z"]
UNSTORABLE = ["ab\ud800c", "\udfff", "nul\x00inside"]
TOO_BIG_IDS = [2**31, 2**63, 2**64, 10**30]
SKIPPED_PATHS = ("/admin/api/stream",)  # an endless response; its parameters are tested in tests/api/test_sse*


def resolve(schema: dict) -> dict:
    while "$ref" in schema:
        target = DOCUMENT
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def operations():
    for path, methods in DOCUMENT["paths"].items():
        for method, operation in methods.items():
            if path not in SKIPPED_PATHS:
                yield path, method.upper(), operation


def body_fields(admin_only: bool = True):
    """(path, method, field, field schema) for every property of every JSON request body."""
    for path, method, operation in operations():
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content and (path.startswith("/admin/api/") or not admin_only):
            for name, schema in resolve(content["schema"]).get("properties", {}).items():
                yield path, method, name, resolve(schema)


def query_parameters(matches):
    for path, method, operation in operations():
        for parameter in map(resolve, operation.get("parameters", [])):
            if parameter["in"] == "query" and matches(resolve(parameter["schema"])):
                yield path, method, parameter["name"]


def accepted_types(schema: dict) -> tuple:
    declared = schema.get("type") or sorted({type(value).__name__ for value in schema.get("enum", [])})
    names = [declared] if isinstance(declared, str) else declared
    return tuple(JSON_TYPES.get(name, str) for name in names)


def is_a(value, types: tuple) -> bool:
    return isinstance(value, types) and not (isinstance(value, bool) and bool not in types)


def int_id_routes():
    """(rule, method) for every route with an integer in its path, read from the app's own URL map."""
    app = create_app(TestConfig)
    for rule in app.url_map.iter_rules():
        if any(isinstance(converter, IntegerConverter) for converter in rule._converters.values()):
            yield from ((rule, method) for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))


def query(path: str, method: str, name: str, value: str) -> dict:
    """`name=value`, with every other required parameter of the operation given a plain value."""
    parameters = map(resolve, DOCUMENT["paths"][path][method.lower()].get("parameters", []))
    return {parameter["name"]: "m" for parameter in parameters if parameter.get("required") and parameter["in"] == "query"} \
        | {name: value}


def fill_path(path: str, value: str = "1") -> str:
    return re.sub(r"\{\w+_id\}", value, path).replace("{dataset}", "transactions")


def call(admin, method: str, path: str, body=None, raw: str | bytes | None = None, api_key: str = ""):
    headers = admin.csrf_headers() | {"Authorization": f"Bearer {api_key}"}
    data = json.dumps(body) if body is not None else raw
    return admin.client.open(path, method=method, headers=headers, data=data,
                             content_type="application/json" if data is not None else None)


def read(admin, path: str, method: str, name: str, value: str):
    return admin.client.open(fill_path(path), method=method, query_string=query(path, method, name, value), buffered=True)


def error_details(response) -> dict:
    """The details of a JSON error, {} for any other answer but a 5xx."""
    assert response.status_code < 500, response.text
    return ((response.json if response.is_json else None) or {}).get("error", {}).get("details") or {}


INT_ROUTES = list(int_id_routes())


def test_the_document_states_the_time_range_that_is_read():
    pattern = re.compile(spec.TIME["pattern"])
    first, last = EARLIEST_QUERY_TIME.year, LATEST_QUERY_TIME.year
    assert pattern.match(f"{first}-01-01") and pattern.match(f"{last - 1}-12-31")
    assert not pattern.match(f"{first - 1}-12-31") and not pattern.match(f"{last + 1}-01-01")
    assert f"from {EARLIEST_QUERY_TIME:%Y-%m-%d} to {LATEST_QUERY_TIME:%Y-%m-%d}" in spec.TIME["description"]


def test_the_lists_cover_the_api():
    assert len(INT_ROUTES) >= 4
    assert len(list(body_fields())) >= 8
    assert len(list(query_parameters(lambda schema: schema.get("format") == "date-time"))) >= 8


@pytest.mark.parametrize("rule, method", INT_ROUTES, ids=[f"{method} {rule.rule}" for rule, method in INT_ROUTES])
@pytest.mark.parametrize("ident", TOO_BIG_IDS)
def test_an_id_no_column_can_hold_is_not_found(admin, rule, method, ident):
    path = rule.rule.replace("<int:", "<").split("<")[0] + str(ident) + rule.rule.split(">", 1)[1]
    response = call(admin, method, path, body={})
    assert response.status_code == 404, response.text


TIME_PARAMETERS = list(query_parameters(lambda schema: schema.get("format") == "date-time"))


@pytest.mark.parametrize("path, method, name", TIME_PARAMETERS, ids=[f"{p}?{n}" for p, _, n in TIME_PARAMETERS])
def test_times_outside_the_calendar_range_name_the_parameter(admin, path, method, name):
    for moment in OUT_OF_CALENDAR:
        response = read(admin, path, method, name, moment)
        assert response.status_code == 400 and error_details(response) == {"parameter": name}, moment


@pytest.mark.parametrize("path, method, name", TIME_PARAMETERS, ids=[f"{p}?{n}" for p, _, n in TIME_PARAMETERS])
def test_times_at_the_edges_of_the_range_are_read(admin, path, method, name):
    for moment in INSIDE_THE_CALENDAR:
        response = read(admin, path, method, name, moment)
        assert response.status_code < 500 and error_details(response).get("parameter") != name, response.text


TEXT_PARAMETERS = list(query_parameters(lambda schema: True))


@pytest.mark.parametrize("path, method, name", TEXT_PARAMETERS, ids=[f"{p}?{n}" for p, _, n in TEXT_PARAMETERS])
def test_a_nul_in_any_query_parameter_names_it(admin, path, method, name):
    response = read(admin, path, method, name, "a\x00b")
    assert response.status_code == 400 and error_details(response) == {"parameter": name}


ADMIN_FIELDS = list(body_fields())


@pytest.mark.parametrize("path, method, name, schema", ADMIN_FIELDS, ids=[f"{m} {p} {n}" for p, m, n, _ in ADMIN_FIELDS])
def test_a_wrong_json_type_names_the_field(admin, viewer_id, path, method, name, schema):
    for value in [value for value in WRONG_VALUES if not is_a(value, accepted_types(schema))]:
        response = call(admin, method, fill_path(path, str(viewer_id)), body={name: value})
        assert response.status_code == 422 and error_details(response) == {"field": name}, value


TEXT_FIELDS = [(path, method, name) for path, method, name, schema in ADMIN_FIELDS if str in accepted_types(schema)]


@pytest.mark.parametrize("path, method, name", TEXT_FIELDS, ids=[f"{m} {p} {n}" for p, m, n in TEXT_FIELDS])
def test_unstorable_text_in_a_field_names_it(admin, viewer_id, path, method, name):
    for text in UNSTORABLE:
        response = call(admin, method, fill_path(path, str(viewer_id)), body={name: text})
        assert response.status_code == 400 and error_details(response) == {"field": name}, repr(text)


INGEST_ITEMS = {"transactions": {"id": "t-1", "amount": "1.00", "currency": "EUR", "status": "completed", "user_id": "u"},
                "activities": {"user_id": "u", "action": "login", "path": "/", "session_id": "s"},
                "metrics": {"name": "m", "value": 1, "tags": {"region": "eu"}}}
INGEST_TEXT = [(kind, field) for kind, item in INGEST_ITEMS.items() for field, value in item.items() if isinstance(value, str)]


@pytest.mark.parametrize("kind, field", INGEST_TEXT, ids=[f"{kind}.{field}" for kind, field in INGEST_TEXT])
def test_unstorable_text_in_an_ingest_item_names_its_path(admin, api_key, kind, field):
    for text in UNSTORABLE:
        response = call(admin, "POST", "/api/v1/events", {kind: [INGEST_ITEMS[kind], INGEST_ITEMS[kind] | {field: text}]},
                        api_key=api_key)
        assert response.status_code == 400 and error_details(response) == {"field": f"{kind}[1].{field}"}


@pytest.mark.parametrize("nested, culprit", [
    ({"metadata": {"note": "\ud800"}}, "transactions[0].metadata.note"),
    ({"metadata": {"\ud800": 1}}, "transactions[0].metadata.\\ud800"),
    ({"metadata": {"list": ["ok", "nul\x00"]}}, "transactions[0].metadata.list[1]"),
])
def test_unstorable_text_deep_in_metadata_names_its_path(admin, api_key, nested, culprit):
    response = call(admin, "POST", "/api/v1/events", {"transactions": [INGEST_ITEMS["transactions"] | nested]},
                    api_key=api_key)
    assert response.status_code == 400 and error_details(response) == {"field": culprit}


def test_emoji_and_escaped_text_are_not_mistaken_for_unstorable(admin, api_key):
    item = INGEST_ITEMS["activities"] | {"action": "\U0001F600 done", "path": "\\ud800 literally"}
    response = call(admin, "POST", "/api/v1/events", {"activities": [item]}, api_key=api_key)
    assert response.status_code == 202 and response.json["accepted"] == 1


@pytest.mark.parametrize("raw", [b'{"activities": [{"user_id": "\xed\xa0\x80", "action": "a"}]}',
                                 '{"activities": []}'.encode("utf-16"), b"\xff\xfe"])
def test_bodies_that_are_not_utf8_are_refused(admin, api_key, raw):
    response = call(admin, "POST", "/api/v1/events", raw=raw, api_key=api_key)
    assert response.status_code == 400 and "not valid JSON" in response.json["error"]["message"]


def nested(depth: int, leaf="x"):
    """A JSON text `depth` levels deep counting the outer object: {"a": {"a": ... leaf}}."""
    return '{"a": ' * depth + json.dumps(leaf) + "}" * depth


JSON_OPERATIONS = sorted({(path, method) for path, method, _, _ in body_fields(admin_only=False)})


@pytest.mark.parametrize("path, method", JSON_OPERATIONS, ids=[f"{m} {p}" for p, m in JSON_OPERATIONS])
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5000, 100_000])
def test_bodies_nested_too_deep_are_refused(admin, api_key, viewer_id, path, method, depth):
    for raw in (nested(depth), "[" * depth + "]" * depth):
        response = call(admin, method, fill_path(path, str(viewer_id)), raw=raw, api_key=api_key)
        assert response.status_code == 400 and "nested deeper" in response.json["error"]["message"]


def test_an_ingest_item_may_nest_metadata_up_to_the_limit(admin, api_key):
    metadata = json.loads(nested(MAX_JSON_DEPTH - 3))  # the body, the array and the item are the first three levels
    response = call(admin, "POST", "/api/v1/events", {"activities": [INGEST_ITEMS["activities"] | {"metadata": metadata}]},
                    api_key=api_key)
    assert response.status_code == 202 and response.json["accepted"] == 1, response.text


@pytest.fixture
def viewer_id(admin):
    """An account the body tests may aim at: wrong input must change nothing, but never the admin's own."""
    return next(user["id"] for user in admin.client.get("/admin/api/users").json["users"] if user["role"] == "viewer")
