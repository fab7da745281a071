"""The OpenAPI 3.1 description of the admin JSON API and the ingest API (a test keeps it equal to the routes)."""
from services.analytics.business import PERIOD_BUCKETS
from services.analytics.metric_queries import AGGREGATIONS, BUCKETS
from services.ingest.event_schema import MAX_BATCH_ITEMS, STATUSES

ERROR = {"$ref": "#/components/schemas/Error"}
OBJECT = {"type": "object"}


def query(name: str, description: str, schema: dict | None = None, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


def path_id(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


TIME = {"type": "string", "format": "date-time"}
LIMIT = query("limit", "rows to return", {"type": "integer", "minimum": 1, "maximum": 500})


def operation(summary: str, parameters: list | None = None, body: dict | None = None, status: str = "200",
              response: dict | None = None, content_type: str = "application/json") -> dict:
    op = {"summary": summary, "parameters": parameters or [],
          "responses": {status: {"description": "success",
                                 "content": {content_type: {"schema": response or OBJECT}}} if status != "204"
                        else {"description": "done"},
                        "default": {"description": "error", "content": {"application/json": {"schema": ERROR}}}}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


ADMIN_PATHS = {
    "/metrics/live": {"get": operation("Current host sample, request performance summary and business KPIs")},
    "/analytics/revenue": {"get": operation("Completed revenue per bucket, with a summary", [
        query("period", "bucket size", {"enum": list(PERIOD_BUCKETS)}), query("start", "range start", TIME),
        query("end", "range end", TIME), query("currency", "ISO 4217 code; default: the one with the most sales")])},
    "/transactions": {"get": operation("Recent transactions, newest first", [
        query("status", "filter", {"enum": list(STATUSES)}), query("since", "only after", TIME), LIMIT])},
    "/transactions/flow": {"get": operation("Counts and amounts by status", [
        query("since", "range start (default 24 h ago)", TIME), query("until", "range end", TIME)])},
    "/user-activity": {"get": operation("Activity feed, active users, counts by action and by hour", [
        query("minutes", "window", {"type": "integer", "minimum": 1, "maximum": 1440}), LIMIT])},
    "/health": {"get": operation("Database, cache, real-time, message queue and job status (503 when degraded)")},
    "/cache/stats": {"get": operation("Per-namespace size, hits, misses, hit rate and TTL")},
    "/cache/clear": {"post": operation("Clear one namespace or all", body={
        "type": "object", "properties": {"namespace": {"type": "string"}}})},
    "/cache/preload": {"post": operation("Warm the dashboard's queries", body=OBJECT)},
    "/performance/stats": {"get": operation("Per endpoint: count, rps, avg, p50, p95, p99, error rate", [
        query("minutes", "window", {"type": "integer", "minimum": 1, "maximum": 1440})])},
    "/notifications": {"get": operation("Recent notifications", [LIMIT]),
                       "post": operation("Send a notification to every dashboard", body={
                           "type": "object", "required": ["title"],
                           "properties": {"title": {"type": "string"}, "message": {"type": "string"},
                                          "level": {"enum": ["info", "success", "warning", "error"]}}},
                           status="201")},
    "/metrics/query": {"get": operation("A custom metric time series from rollups", [
        query("name", "metric name", required=True), query("agg", "aggregate", {"enum": list(AGGREGATIONS)}),
        query("bucket", "bucket size", {"enum": list(BUCKETS)}), query("start", "range start", TIME),
        query("end", "range end", TIME), query("group_by", "a tag name")])},
    "/export/{dataset}.csv": {"get": operation("CSV of a dataset in a time range, streamed", [
        {"name": "dataset", "in": "path", "required": True,
         "schema": {"enum": ["transactions", "activity", "metrics", "alerts"]}},
        query("start", "range start (default 24 h ago)", TIME), query("end", "range end", TIME)],
        response={"type": "string"}, content_type="text/csv")},
    "/audit": {"get": operation("The audit log, newest first", [LIMIT, query("action", "filter")])},
    "/users": {"get": operation("Accounts"),
               "post": operation("Create an account", body={
                   "type": "object", "required": ["username", "password"],
                   "properties": {"username": {"type": "string"}, "password": {"type": "string", "minLength": 8},
                                  "role": {"enum": ["admin", "viewer"]}}}, status="201")},
    "/users/{user_id}": {"patch": operation("Change role, password or active", [path_id("user_id")], body={
                             "type": "object", "properties": {"role": {"enum": ["admin", "viewer"]},
                                                              "password": {"type": "string"},
                                                              "active": {"type": "boolean"}}}),
                         "delete": operation("Delete an account", [path_id("user_id")], status="204")},
    "/api-keys": {"get": operation("Ingest API keys (prefixes only)"),
                  "post": operation("Create a key; the response shows it this once", body={
                      "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                      status="201")},
    "/api-keys/{key_id}": {"delete": operation("Revoke a key at once", [path_id("key_id")], status="204")},
    "/openapi.json": {"get": operation("This document")},
    "/metrics/host": {"get": operation("Host samples over time (raw up to 1 h, then 1 min and 1 h rollups)", [
        query("minutes", "window", {"type": "integer", "minimum": 1, "maximum": 43200})])},
    "/analytics/timeline": {"get": operation("Per minute: revenue, transactions, requests, p95 and error rate", [
        query("minutes", "window", {"type": "integer", "minimum": 1, "maximum": 1440})])},
    "/alerts": {"get": operation("Alerts, newest first", [
        query("state", "filter", {"enum": ["pending", "firing", "resolved", "acknowledged"]}), LIMIT])},
    "/alerts/{alert_id}/ack": {"post": operation("Acknowledge a pending or firing alert (409 otherwise)",
                                                  [path_id("alert_id")], body=OBJECT)},
    "/stream": {"get": operation("Server-Sent Events: live pushes with ids; Last-Event-ID or last_event_id replays", [
        query("channels", "comma-separated: live_update, metrics, metric, transaction, activity, alert, notification"),
        query("last_event_id", "resume after this seq")], response={"type": "string"}, content_type="text/event-stream")},
}

ITEM_SCHEMAS = {
    "Transaction": {"type": "object", "required": ["id", "amount", "currency", "status", "user_id"], "properties": {
        "id": {"type": "string"}, "amount": {"type": ["string", "number"], "description": "decimal, >= 0, 4 places"},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}, "status": {"enum": list(STATUSES)},
        "user_id": {"type": "string"}, "timestamp": TIME, "metadata": OBJECT}},
    "Activity": {"type": "object", "required": ["user_id", "action"], "properties": {
        "user_id": {"type": "string"}, "action": {"type": "string"}, "path": {"type": "string"},
        "session_id": {"type": "string"}, "timestamp": TIME, "metadata": OBJECT}},
    "Metric": {"type": "object", "required": ["name", "value"], "properties": {
        "name": {"type": "string"}, "value": {"type": "number"}, "timestamp": TIME,
        "tags": {"type": "object", "additionalProperties": {"type": "string"}}}},
}

INGEST_PATHS = {
    "/api/v1/events": {"post": operation(
        f"Ingest up to {MAX_BATCH_ITEMS} items; valid ones are stored even when others are rejected", body={
            "type": "object", "properties": {
                "transactions": {"type": "array", "items": {"$ref": "#/components/schemas/Transaction"}},
                "activities": {"type": "array", "items": {"$ref": "#/components/schemas/Activity"}},
                "metrics": {"type": "array", "items": {"$ref": "#/components/schemas/Metric"}}}},
        status="202", response={"type": "object", "properties": {
            "accepted": {"type": "integer"}, "rejected": {"type": "integer"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "index": {"type": "integer"}, "kind": {"type": "string"}, "message": {"type": "string"}}}}}})
        | {"security": [{"apiKey": []}]}},
}


def document() -> dict:
    """The whole OpenAPI document; admin paths use the session cookie, ingest uses the API key."""
    paths = {f"/admin/api{path}": methods for path, methods in ADMIN_PATHS.items()} | INGEST_PATHS
    return {
        "openapi": "3.1.0",
        "info": {"title": "Pulseboard", "version": "1.0",
                 "description": "Admin JSON API (session cookie; writes need X-CSRFToken) and ingest API (API key)."},
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
