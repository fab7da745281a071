"""The ingest validator and the OpenAPI document agree: every bound the document states is the one enforced.

Each case is built from the rendered document (not from the constants), then judged twice: by parse_batch and
by a JSON Schema validator over the document's own schema. At a bound both accept; one past it both refuse.
"""
import json
import random
from datetime import UTC, datetime

import jsonschema_rs
import pytest

from bench.ingest import batch_payload
from services.ingest import event_schema
from services.ingest.event_schema import BatchError, check_batch_shape, parse_batch
from services.openapi import spec

NOW = datetime(2026, 1, 31, 12, tzinfo=UTC)
DOCUMENT = spec.document()
SCHEMAS = DOCUMENT["components"]["schemas"]
BODY = DOCUMENT["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
BODY_VALIDATOR = jsonschema_rs.validator_for(BODY | {"components": DOCUMENT["components"]})  # so its $refs resolve
KINDS = {"transactions": "Transaction", "activities": "Activity", "metrics": "Metric"}
MINIMAL = {"transactions": {"id": "t-1", "amount": "19.99", "currency": "USD", "status": "completed", "user_id": "u-1"},
           "activities": {"user_id": "u-1", "action": "login"},
           "metrics": {"name": "queue.depth", "value": 3}}


def verdicts(key: str, item) -> tuple[bool, bool]:
    """(accepted by the validator, valid under the document's schema for that kind)."""
    rows, errors = parse_batch({key: [item]}, NOW)
    return not errors, jsonschema_rs.validator_for(SCHEMAS[KINDS[key]]).is_valid(item)


def error_of(key: str, item) -> str:
    [error] = parse_batch({key: [item]}, NOW)[1]
    return error["message"]


def documented(keyword: str):
    """(items key, property name, the keyword's value) for every property that states `keyword`."""
    return [(key, name, prop[keyword]) for key, kind in KINDS.items()
            for name, prop in SCHEMAS[kind]["properties"].items() if keyword in prop]


def compact_json_of_size(size: int, max_value: int) -> dict:
    """An object of string values whose compact JSON is exactly `size` characters."""
    value, index = {}, 0
    while True:
        key = f"k{index}"
        room = size - len(json.dumps(value, separators=(",", ":"))) - len(key) - 5 - (1 if value else 0)
        value[key] = "x" * min(room, max_value)
        if room <= max_value:
            assert len(json.dumps(value, separators=(",", ":"))) == size
            return value
        index += 1


def test_the_minimal_items_hold_exactly_the_documented_required_fields():
    for key, item in MINIMAL.items():
        assert sorted(item) == sorted(SCHEMAS[KINDS[key]]["required"])
        assert verdicts(key, item) == (True, True)


@pytest.mark.parametrize("key, name", [(key, name) for key, kind in KINDS.items() for name in SCHEMAS[kind]["required"]])
def test_each_documented_required_field_is_required(key, name):
    item = {field: value for field, value in MINIMAL[key].items() if field != name}
    assert verdicts(key, item) == (False, False)
    assert name in error_of(key, item)


@pytest.mark.parametrize("key, name, max_length", documented("maxLength"))
def test_each_documented_max_length_is_the_enforced_one(key, name, max_length):
    first = "a"  # fits every documented pattern (metric names start with a letter)
    assert verdicts(key, MINIMAL[key] | {name: first + "x" * (max_length - 1)}) == (True, True)
    too_long = MINIMAL[key] | {name: first + "x" * max_length}
    assert verdicts(key, too_long) == (False, False)
    assert name in error_of(key, too_long) and str(max_length) in error_of(key, too_long)


@pytest.mark.parametrize("key, name, min_length", documented("minLength"))
def test_each_documented_min_length_is_the_enforced_one(key, name, min_length):
    assert verdicts(key, MINIMAL[key] | {name: "x" * min_length}) == (True, True)
    if name in SCHEMAS[KINDS[key]]["required"]:  # an optional "" is read as absent: the document asks for less
        assert verdicts(key, MINIMAL[key] | {name: "x" * (min_length - 1)}) == (False, False)


@pytest.mark.parametrize("key, name, allowed", documented("enum"))
def test_each_documented_enum_is_the_enforced_one(key, name, allowed):
    for value in allowed:
        assert verdicts(key, MINIMAL[key] | {name: value}) == (True, True)
    assert verdicts(key, MINIMAL[key] | {name: allowed[0].upper() + "?"}) == (False, False)


@pytest.mark.parametrize("key, name, value, valid", [
    ("transactions", "currency", "EUR", True), ("transactions", "currency", "EU", False),
    ("transactions", "currency", "EURO", False), ("transactions", "currency", "E1R", False),
    ("metrics", "name", "_a:b.c-d", True), ("metrics", "name", "9lives", False), ("metrics", "name", "a b", False),
    ("metrics", "name", "a\n", False),  # a Python `$` would let this through; the document's ECMA `$` does not
])
def test_documented_patterns_are_the_enforced_ones(key, name, value, valid):
    assert verdicts(key, MINIMAL[key] | {name: value}) == (valid, valid)


def test_documented_amount_range_is_the_enforced_one():
    amount = SCHEMAS["Transaction"]["properties"]["amount"]
    for value, valid in [(amount["minimum"], True), (amount["maximum"], True), (amount["minimum"] - 1, False),
                         (amount["maximum"] + 1, False), (str(amount["maximum"]), True)]:
        assert verdicts("transactions", MINIMAL["transactions"] | {"amount": value}) == (valid, valid)
    places = amount["x-maxDecimalPlaces"]
    assert verdicts("transactions", MINIMAL["transactions"] | {"amount": "0." + "0" * (places - 1) + "1"})[0]
    assert not verdicts("transactions", MINIMAL["transactions"] | {"amount": "0." + "0" * places + "1"})[0]


@pytest.mark.parametrize("key", list(KINDS))
def test_documented_earliest_unix_timestamp_is_the_enforced_one(key):
    [_, number] = SCHEMAS[KINDS[key]]["properties"]["timestamp"]["anyOf"]
    assert verdicts(key, MINIMAL[key] | {"timestamp": number["minimum"]}) == (True, True)
    assert verdicts(key, MINIMAL[key] | {"timestamp": number["minimum"] - 1}) == (False, False)


@pytest.mark.parametrize("key", ["transactions", "activities"])
def test_documented_metadata_size_is_the_enforced_one(key):
    limit = SCHEMAS[KINDS[key]]["properties"]["metadata"]["x-maxJsonBytes"]
    assert verdicts(key, MINIMAL[key] | {"metadata": compact_json_of_size(limit, limit)})[0]
    assert "at most" in error_of(key, MINIMAL[key] | {"metadata": compact_json_of_size(limit + 1, limit)})


def test_documented_tag_limits_are_the_enforced_ones():
    tags = SCHEMAS["Metric"]["properties"]["tags"]
    name, value = tags["propertyNames"]["maxLength"], tags["additionalProperties"]["maxLength"]
    cases = [({f"t{i}": "v" for i in range(tags["maxProperties"])}, True),
             ({f"t{i}": "v" for i in range(tags["maxProperties"] + 1)}, False),
             ({"n" * name: "v"}, True), ({"n" * (name + 1): "v"}, False),
             ({"t": "v" * value}, True), ({"t": "v" * (value + 1)}, False), ({"": "v"}, False), ({"t": 5}, False)]
    for case, valid in cases:
        assert verdicts("metrics", MINIMAL["metrics"] | {"tags": case}) == (valid, valid), case
    limit = tags["x-maxJsonBytes"]
    assert verdicts("metrics", MINIMAL["metrics"] | {"tags": compact_json_of_size(limit, value)})[0]
    assert not verdicts("metrics", MINIMAL["metrics"] | {"tags": compact_json_of_size(limit + 1, value)})[0]


def test_metadata_with_nan_or_infinity_is_refused():
    """Stored as JSON text, which PostgreSQL's json type refuses with NaN in it: the whole batch would fail."""
    for number in (float("nan"), float("inf"), event_schema.Decimal("1e400")):
        assert "finite" in error_of("activities", MINIMAL["activities"] | {"metadata": {"x": number}})


def test_bench_batches_are_valid_under_the_document_too():
    payload = batch_payload(random.Random(3), NOW, 0)
    assert parse_batch(payload, NOW)[1] == []
    assert BODY_VALIDATOR.is_valid(payload)


@pytest.mark.parametrize("payload, status", [
    ({}, 422), ({"orders": []}, 422), ({"metrics": {"name": "m"}}, 422), ([], 400),
])
def test_batch_shapes_the_document_refuses_are_refused(payload, status):
    assert not BODY_VALIDATOR.is_valid(payload)
    with pytest.raises(BatchError) as refused:
        check_batch_shape(payload)
    assert refused.value.status == status


def test_documented_batch_size_is_the_enforced_one():
    limit = BODY["properties"]["metrics"]["maxItems"]
    check_batch_shape({"metrics": [MINIMAL["metrics"]] * limit})
    with pytest.raises(BatchError) as refused:
        check_batch_shape({"metrics": [MINIMAL["metrics"]] * (limit + 1)})
    assert refused.value.status == 413
    assert BODY_VALIDATOR.is_valid({"metrics": [MINIMAL["metrics"]] * limit})
    assert not BODY_VALIDATOR.is_valid({"metrics": [MINIMAL["metrics"]] * (limit + 1)})
