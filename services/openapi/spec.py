"""The OpenAPI 3.1 description of the admin JSON API and the ingest API (a test keeps it equal to the routes).

The ingest item schemas and every input limit are rendered from the definitions that enforce them
(services.ingest.event_schema, the MAX_CONTENT_LENGTH setting), never restated here.
"""
from config import Config
from services.alerts import alerts, silences
from services.alerts.receivers import DELIVERY_STATUSES
from services.alerts.receivers import body_schema as receiver_body_schema
from services.alerts.rules import body_schema as rule_body_schema
from services.analytics import annotations
from services.analytics.business import PERIOD_BUCKETS
from services.analytics.explorer_series import MAX_RANGE_MINUTES
from services.analytics.metric_queries import AGGREGATIONS, BUCKETS
from services.cache.cache_manager import DEFAULT_NAMESPACES
from services.dashboard.pins import MAX_PINS, MAX_TITLE, VIEW_FIELDS
from services.ingest.event_schema import (
    ITEMS,
    MAX_BATCH_ITEMS,
    MAX_JSON_DEPTH,
    MAX_METADATA_BYTES,
    MAX_TAG_NAME,
    MAX_TAG_VALUE,
    MAX_TAGS,
    MAX_TAGS_BYTES,
    STATUSES,
    batch_schema,
)

ADMIN_PREFIX = "/admin/api"
ERROR = {"$ref": "#/components/schemas/Error"}
OBJECT = {"type": "object"}


def query(name: str, description: str, schema: dict | None = None, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


def path_id(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


# Query times as blueprints/http.py reads them: 1970-01-01 to 2100-01-01 (a test keeps the two equal).
TIME = {"type": "string", "format": "date-time", "pattern": r"^(19[7-9][0-9]|20[0-9][0-9])-",
        "description": "ISO-8601; no zone means UTC; from 1970-01-01 to 2100-01-01"}
NO_NUL = r"^[^\x00]*$"  # every text field and parameter refuses NUL (PostgreSQL cannot store it)


def text(max_length: int, min_length: int = 0, blank: bool = True) -> dict:
    """Text as the API reads it: `blank=False` means it must hold more than whitespace."""
    return {"type": "string", "minLength": min_length, "maxLength": max_length,
            "pattern": NO_NUL if blank else r"^[^\x00]*\S[^\x00]*$"}


PASSWORD = {"type": "string", "minLength": 8, "pattern": NO_NUL}
LIMIT = query("limit", "rows to return", {"type": "integer", "minimum": 1, "maximum": 500})


def operation(summary: str, parameters: list | None = None, body: dict | None = None, status: str = "200",
              response: dict | None = None, content_type: str = "application/json", links: dict | None = None) -> dict:
    op = {"summary": summary, "parameters": parameters or [],
          "responses": {status: {"description": "success",
                                 "content": {content_type: {"schema": response or OBJECT}}} if status != "204"
                        else {"description": "done"},
                        "default": {"description": "error", "content": {"application/json": {"schema": ERROR}}}}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if links:
        op["responses"][status]["links"] = links
    return op


def link(path: str, method: str, parameter: str, pointer: str) -> dict:
    """An OpenAPI link: the admin operation `method path` takes `parameter` from this response's body at `pointer`."""
    escaped = (ADMIN_PREFIX + path).replace("~", "~0").replace("/", "~1")
    return {"operationRef": f"#/paths/{escaped}/{method}", "parameters": {parameter: f"$response.body#{pointer}"}}


USER_LINKS = {"UpdateUser": link("/users/{user_id}", "patch", "user_id", "/id"),
              "DeleteUser": link("/users/{user_id}", "delete", "user_id", "/id")}
RULE_LINKS = {f"{verb}Rule": link("/alert-rules/{rule_id}", method, "rule_id", "/rule/id")
              for verb, method in (("Get", "get"), ("Update", "patch"), ("Delete", "delete"))} | {
    "PreviewRule": link("/alert-rules/{rule_id}/preview", "post", "rule_id", "/rule/id")}
SILENCE_LINKS = {f"{verb}Silence": link("/silences/{silence_id}", method, "silence_id", "/silence/id")
                 for verb, method in (("Get", "get"), ("Expire", "delete"))}
RECEIVER_LINKS = {f"{verb}Receiver": link(path, method, "receiver_id", "/receiver/id") for verb, path, method in (
    ("Get", "/receivers/{receiver_id}", "get"), ("Update", "/receivers/{receiver_id}", "patch"),
    ("Delete", "/receivers/{receiver_id}", "delete"), ("Test", "/receivers/{receiver_id}/test", "post"),
    ("ListDeliveries", "/receivers/{receiver_id}/deliveries", "get"))}


ADMIN_PATHS = {
    "/metrics/live": {"get": operation("Current host sample, request performance summary and business KPIs")},
    "/analytics/revenue": {"get": operation("Completed revenue per bucket, with a summary", [
        query("period", "bucket size", {"enum": list(PERIOD_BUCKETS)}), query("start", "range start", TIME),
        query("end", "range end", TIME),
        query("currency", "ISO 4217 code; default: the one with the most sales", text(3))])},
    "/transactions": {"get": operation("Recent transactions, newest first", [
        query("status", "filter", {"enum": list(STATUSES)}), query("since", "only after", TIME), LIMIT])},
    "/transactions/flow": {"get": operation("Counts and amounts by status", [
        query("since", "range start (default 24 h ago)", TIME), query("until", "range end", TIME)])},
    "/user-activity": {"get": operation("Activity feed, active users, counts by action and by hour", [
        query("minutes", "window", {"type": "integer", "minimum": 1, "maximum": 1440}), LIMIT])},
    "/health": {"get": operation("Database, cache, real-time, message queue and job status (503 when degraded)")},
    "/cache/stats": {"get": operation("Per-namespace size, hits, misses, hit rate and TTL")},
    "/cache/clear": {"post": operation("Clear one namespace or all", body={
        "type": "object", "properties": {"namespace": {"enum": list(DEFAULT_NAMESPACES)}}})},
    "/cache/preload": {"post": operation("Warm the dashboard's queries", body=OBJECT)},
    "/performance/stats": {"get": operation("Per endpoint: count, rps, avg, p50, p95, p99, error rate", [
        query("minutes", "window", {"type": "integer", "minimum": 1, "maximum": 1440})])},
    "/notifications": {"get": operation("Recent notifications", [LIMIT]),
                       "post": operation("Send a notification to every dashboard", body={
                           "type": "object", "required": ["title"],
                           "properties": {"title": text(200, 1, blank=False), "message": text(2000),
                                          "level": {"enum": ["info", "success", "warning", "error"]}}},
                           status="201")},
    "/metrics/query": {"get": operation("A custom metric time series from rollups", [
        query("name", "metric name", text(200, 1), required=True), query("agg", "aggregate", {"enum": list(AGGREGATIONS)}),
        query("bucket", "bucket size", {"enum": list(BUCKETS)}), query("start", "range start", TIME),
        query("end", "range end", TIME), query("group_by", "a tag name", text(64))])},
    "/metrics/names": {"get": operation(
        "Custom metric names seen in the last 24 h (at most 500, newest first): tag keys with their 5 most frequent "
        "values, points in the last hour, last seen")},
    "/explorer/series": {"get": operation("The metric explorer's series: tag filters, one line per group_by value "
                                          "(the top ones, the rest as other), count/sum/min/max per point", [
        query("name", "metric name", text(200, 1), required=True), query("agg", "aggregate", {"enum": list(AGGREGATIONS)}),
        query("minutes", "range, ending now", {"type": "integer", "minimum": 1, "maximum": MAX_RANGE_MINUTES}),
        query("bucket", "bucket size (default: by range)", {"enum": list(BUCKETS)}),
        query("filters", 'a JSON object of tag name to value, e.g. {"region": "eu"}', text(4000)),
        query("group_by", "a tag name", text(64)),
        query("top", "lines before the rest become other", {"type": "integer", "minimum": 1, "maximum": 50})])},
    "/explorer/pins": {
        "get": operation("Your pinned explorer views, in order"),
        "post": operation("Pin an explorer view to your dashboard (viewers too; 422 naming the field, 409 beyond "
                          f"{MAX_PINS})", body={
                              "type": "object", "required": ["title", "view"],
                              "properties": {"title": text(MAX_TITLE, 1, blank=False), "view": {
                                  "type": "object", "required": ["name"], "additionalProperties": False,
                                  "properties": {key: text(length, 1 if key == "name" else 0)
                                                 for key, length in VIEW_FIELDS.items()}}}},
                          status="201", links={"Unpin": link("/explorer/pins/{pin_id}", "delete", "pin_id", "/pin/id")})},
    "/explorer/pins/{pin_id}": {"delete": operation("Unpin one of your views (another user's pin is a 404)",
                                                    [path_id("pin_id")], status="204")},
    "/export/{dataset}.csv": {"get": operation("CSV of a dataset in a time range, streamed", [
        {"name": "dataset", "in": "path", "required": True,
         "schema": {"enum": ["transactions", "activity", "metrics", "alerts"]}},
        query("start", "range start (default 24 h ago)", TIME), query("end", "range end", TIME)],
        response={"type": "string"}, content_type="text/csv")},
    "/audit": {"get": operation("The audit log, newest first", [LIMIT, query("action", "filter", text(64))])},
    "/users": {"get": operation("Accounts"),
               "post": operation("Create an account", body={
                   "type": "object", "required": ["username", "password"],
                   "properties": {"username": text(80, 1, blank=False), "password": PASSWORD,
                                  "role": {"enum": ["admin", "viewer"]}}}, status="201", links=USER_LINKS)},
    "/users/{user_id}": {"patch": operation("Change role, password or active", [path_id("user_id")], body={
                             "type": "object", "properties": {"role": {"enum": ["admin", "viewer"]},
                                                              "password": PASSWORD,
                                                              "active": {"type": "boolean"}},
                             "anyOf": [{"required": [name]} for name in ("role", "password", "active")]}),
                         "delete": operation("Delete an account", [path_id("user_id")], status="204")},
    "/api-keys": {"get": operation("Ingest API keys (prefixes only)"),
                  "post": operation("Create a key; the response shows it this once", body={
                      "type": "object", "required": ["name"], "properties": {"name": text(80, 1, blank=False)}},
                      status="201", links={"RevokeKey": link("/api-keys/{key_id}", "delete", "key_id", "/id")})},
    "/api-keys/{key_id}": {"delete": operation("Revoke a key at once", [path_id("key_id")], status="204")},
    "/openapi.json": {"get": operation("This document")},
    "/metrics/host": {"get": operation("Host samples over time (raw up to 1 h, then 1 min and 1 h rollups)", [
        query("minutes", "window", {"type": "integer", "minimum": 1, "maximum": 43200})])},
    "/analytics/timeline": {"get": operation("Per minute: revenue, transactions, requests, p95 and error rate", [
        query("minutes", "window", {"type": "integer", "minimum": 1, "maximum": 1440})])},
    "/analytics/activity-heatmap": {"get": operation(
        "User activity in the last days by UTC hour × weekday: matrix[weekday 0 = Monday][hour 0-23]", [
            query("days", "window in days (default 7)", {"type": "integer", "minimum": 1, "maximum": 366}),
            query("action", "count only this action", text(64))])},
    "/alerts": {"get": operation("Alerts, newest first", [
        query("state", "filter", {"enum": list(alerts.STATES)}), LIMIT],
        links={"AcknowledgeFirst": link("/alerts/{alert_id}/ack", "post", "alert_id", "/alerts/0/id")})},
    "/alerts/{alert_id}/ack": {"post": operation("Acknowledge a pending or firing alert (409 otherwise)",
                                                  [path_id("alert_id")], body=OBJECT)},
    "/alerts/periods": {"get": operation("Firing periods of alert instances in the last minutes (end null while firing)", [
        query("minutes", "window", {"type": "integer", "minimum": 1, "maximum": 1440})])},
    "/alerts/{alert_id}/history": {"get": operation("An alert's state changes, newest first",
                                                    [path_id("alert_id"), LIMIT])},
    "/alert-rules": {"get": operation("Alert rules, oldest first"),
                     "post": operation("Create an alert rule (422 naming the field when invalid)",
                                       body=rule_body_schema(partial=False), status="201", links=RULE_LINKS)},
    "/alert-rules/{rule_id}": {
        "get": operation("One alert rule", [path_id("rule_id")]),
        "patch": operation("Change any of a rule's fields (null clears an optional one)", [path_id("rule_id")],
                           body=rule_body_schema(partial=True)),
        "delete": operation("Delete a rule; its alerts stay, without a rule", [path_id("rule_id")], status="204")},
    "/alert-rules/preview": {"post": operation(
        "Evaluate an unsaved rule now: per label set its value and the state it would enter; nothing is stored or sent",
        body=rule_body_schema(partial=False))},
    "/alert-rules/{rule_id}/preview": {"post": operation(
        "Evaluate a saved rule now: per label set its value and the state it would enter; nothing changes",
        [path_id("rule_id")], body=OBJECT)},
    "/silences": {"get": operation("Silences, newest first", [
                      query("status", "filter", {"enum": list(silences.STATUSES)}), LIMIT]),
                  "post": operation("Create a silence; the instances it mutes are pushed (422 naming the field when invalid)",
                                    body=silences.body_schema(), status="201", links=SILENCE_LINKS)},
    "/silences/{silence_id}": {
        "get": operation("One silence", [path_id("silence_id")]),
        "delete": operation("Expire a silence now (409 when already expired)", [path_id("silence_id")])},
    "/receivers": {"get": operation("Webhook receivers, oldest first, each with its deliveries counted by status"),
                   "post": operation("Create a receiver (422 naming the field when invalid, 409 when the name is taken)",
                                     body=receiver_body_schema(partial=False), status="201", links=RECEIVER_LINKS)},
    "/receivers/{receiver_id}": {
        "get": operation("One receiver", [path_id("receiver_id")]),
        "patch": operation("Change any of a receiver's fields (null clears repeat_interval_seconds)",
                           [path_id("receiver_id")], body=receiver_body_schema(partial=True)),
        "delete": operation("Delete a receiver and its deliveries", [path_id("receiver_id")], status="204")},
    "/receivers/{receiver_id}/test": {"post": operation(
        "Send a realistic firing body now, once, without retry; the delivery says how the endpoint answered",
        [path_id("receiver_id")], body=OBJECT,
        links={"RetryTest": link("/deliveries/{delivery_id}/retry", "post", "delivery_id", "/delivery/id")})},
    "/receivers/{receiver_id}/deliveries": {"get": operation("A receiver's deliveries, newest first", [
        path_id("receiver_id"), query("status", "filter", {"enum": list(DELIVERY_STATUSES)}), LIMIT],
        links={"RetryFirst": link("/deliveries/{delivery_id}/retry", "post", "delivery_id", "/deliveries/0/id")})},
    "/deliveries/{delivery_id}/retry": {"post": operation("Queue a dead delivery again, due now (409 unless dead)",
                                                          [path_id("delivery_id")], body=OBJECT)},
    "/annotations": {"get": operation("Annotations that touch a range (default the last 24 h), newest first", [
        query("start", "range start (default 24 h before end)", TIME), query("end", "range end (default now)", TIME),
        query("tag", "only those with this tag", text(annotations.MAX_TAG)), LIMIT],
        response={"type": "object", "properties": {"annotations": {"type": "array", "items": annotations.schema()}}})},
    "/annotations/{annotation_id}": {"delete": operation("Delete an annotation (charts drop it live)",
                                                          [path_id("annotation_id")], status="204")},
    "/stream": {"get": operation("Server-Sent Events: live pushes with ids; Last-Event-ID or last_event_id replays", [
        query("channels",
              "comma-separated: live_update, metrics, metric, transaction, activity, alert, notification, annotation"),
        query("last_event_id", "resume after this seq")], response={"type": "string"}, content_type="text/event-stream")},
}

def item_ref(kind: str) -> dict:
    return {"$ref": f"#/components/schemas/{kind.title()}"}


ITEM_SCHEMAS = {kind.kind.title(): kind.schema() for kind in ITEMS.values()}

INGEST_PATHS = {
    "/api/v1/events": {"post": operation(
        f"Ingest up to {MAX_BATCH_ITEMS} items; valid ones are stored even when others are rejected",
        body=batch_schema(item_ref),
        status="202", response={"type": "object", "properties": {
            "accepted": {"type": "integer"}, "rejected": {"type": "integer"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "index": {"type": "integer"}, "kind": {"type": "string"}, "message": {"type": "string"}}}}}})
        | {"security": [{"apiKey": []}]}},
    "/api/v1/annotations": {"post": operation(
        "Mark the time charts (a deploy, an incident): a moment, or a span with time_end; pushed live (422 naming the field)",
        body=annotations.body_schema(), status="201",
        response={"type": "object", "required": ["annotation"], "properties": {"annotation": annotations.schema()}})
        | {"security": [{"apiKey": []}]}},
}


def limits(max_body_bytes: int) -> dict:
    """Every input limit, by name, as the code enforces it (also in the README's Limits table)."""
    return {"maxBodyBytes": max_body_bytes, "maxJsonDepth": MAX_JSON_DEPTH, "maxBatchItems": MAX_BATCH_ITEMS,
            "maxTagsPerMetric": MAX_TAGS, "maxTagNameLength": MAX_TAG_NAME, "maxTagValueLength": MAX_TAG_VALUE,
            "maxTagsJsonBytes": MAX_TAGS_BYTES, "maxMetadataJsonBytes": MAX_METADATA_BYTES}


def limits_text(max_body_bytes: int) -> str:
    return (f"Limits: a request body of at most {max_body_bytes:,} bytes (413 above); JSON nested at most "
            f"{MAX_JSON_DEPTH} levels deep, the body being level 1 (400 deeper); at most {MAX_BATCH_ITEMS:,} items "
            f"per ingest request (413 above); per item, the maxLength, pattern and x-maxJsonBytes of its schema "
            f"(metadata at most {MAX_METADATA_BYTES:,} bytes as JSON; a metric at most {MAX_TAGS} tags, names 1 to "
            f"{MAX_TAG_NAME} characters, values at most {MAX_TAG_VALUE}, {MAX_TAGS_BYTES} bytes as JSON in all). "
            "The same limits, by name, are in x-limits.")


def document(max_body_bytes: int = Config.MAX_CONTENT_LENGTH) -> dict:
    """The whole OpenAPI document; admin paths use the session cookie, ingest uses the API key.

    `max_body_bytes` is the app's MAX_CONTENT_LENGTH, which Flask enforces.
    """
    paths = {ADMIN_PREFIX + path: methods for path, methods in ADMIN_PATHS.items()} | INGEST_PATHS
    return {
        "openapi": "3.1.0",
        "info": {"title": "Pulseboard", "version": "1.0",
                 "description": "Admin JSON API (session cookie; writes need X-CSRFToken) and ingest API (API key). "
                                + limits_text(max_body_bytes)},
        "x-limits": limits(max_body_bytes),
        "paths": paths,
        "security": [{"session": []}],
        "components": {
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "session"},
                                "apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": ITEM_SCHEMAS | {"Error": {"type": "object", "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}}}}}},
        },
    }
