"""The OpenAPI document is valid OpenAPI 3.1 and states every input limit from the constants that enforce it.

(That it describes exactly the routes is tests/api/test_operations_api.py; that its ingest schemas are the
validator's, tests/unit/test_event_schema.py.)
"""
import jsonschema_rs  # comes with schemathesis, a pinned test dependency
from schemathesis.specs.openapi.definitions import OPENAPI_31  # the meta-schema schemathesis checks documents by

from config import Config
from services.ingest import event_schema
from services.openapi import spec


def test_the_document_is_valid_openapi_3_1():
    document = spec.document()
    errors = [str(error) for error in jsonschema_rs.validator_for(OPENAPI_31).iter_errors(document)]
    assert errors == []
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name


def test_every_ref_points_at_a_component():
    document = spec.document()
    refs, pending = set(), [document["paths"]]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            refs |= {node["$ref"]} if "$ref" in node else set()
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    assert refs == {f"#/components/schemas/{name}" for name in document["components"]["schemas"]}


def test_limits_are_the_enforced_constants():
    assert spec.document()["x-limits"] == {
        "maxBodyBytes": Config.MAX_CONTENT_LENGTH, "maxJsonDepth": event_schema.MAX_JSON_DEPTH,
        "maxBatchItems": event_schema.MAX_BATCH_ITEMS, "maxTagsPerMetric": event_schema.MAX_TAGS,
        "maxTagNameLength": event_schema.MAX_TAG_NAME, "maxTagValueLength": event_schema.MAX_TAG_VALUE,
        "maxTagsJsonBytes": event_schema.MAX_TAGS_BYTES, "maxMetadataJsonBytes": event_schema.MAX_METADATA_BYTES}


def test_the_body_size_is_the_one_given():
    document = spec.document(max_body_bytes=2048)
    assert document["x-limits"]["maxBodyBytes"] == 2048
    assert "at most 2,048 bytes" in document["info"]["description"]


def test_the_description_names_each_limit():
    description = spec.document(max_body_bytes=1024)["info"]["description"]
    for value in spec.limits(1024).values():
        assert f"{value:,}" in description, value


def test_statuses_in_queries_are_the_ingest_statuses():
    [status] = [parameter for parameter in spec.document()["paths"]["/admin/api/transactions"]["get"]["parameters"]
                if parameter["name"] == "status"]
    assert status["schema"]["enum"] == list(event_schema.STATUSES)
