"""The metric explorer: the names seen lately and the series it draws, cached in the "metrics" namespace (which
ingest of metrics clears), and the views each user pinned to their dashboard."""
import json

from flask import jsonify
from flask_login import current_user

from blueprints.admin_api import bp
from blueprints.admin_api.reads import answer
from blueprints.audit_trail import record_event
from blueprints.http import ApiError, bounded_int, choice_arg, json_body, largest_id, text_arg
from database import ExplorerPin
from extensions import db
from services.analytics import explorer_series, metric_names, metric_queries
from services.dashboard import pins
from services.dashboard.reads import CachedRead, ReadContext

MAX_FILTERS_TEXT = 4000


def names_seen(context: ReadContext) -> dict:
    return metric_names.metric_names(context.session, context.now)


def explored_series(context: ReadContext, filters: tuple, **params) -> dict:
    # Filters travel as sorted pairs: a cache key must be hashable and the same for the same filters.
    return explorer_series.explorer_series(context.session, context.now, filters=dict(filters), **params)


NAMES = CachedRead("metrics", names_seen)
SERIES = CachedRead("metrics", explored_series)


@bp.get("/metrics/names")
def list_metric_names():
    return answer(NAMES)


@bp.get("/explorer/series")
def explore_series():
    name = text_arg("name", 200)
    if not name:
        raise ApiError(400, "name is required", {"parameter": "name"})
    return answer(SERIES, name=name, agg=choice_arg("agg", metric_queries.AGGREGATIONS, "avg"),
                  minutes=bounded_int("minutes", 60, minimum=1, maximum=explorer_series.MAX_RANGE_MINUTES),
                  bucket=choice_arg("bucket", metric_queries.BUCKETS), filters=tuple(sorted(filters_arg().items())),
                  group_by=text_arg("group_by", 64), top=bounded_int("top", explorer_series.TOP_LINES, maximum=50))


def filters_arg() -> dict[str, str]:
    """`filters`: a JSON object of tag name to value, every one of which a point must carry."""
    raw = text_arg("filters", MAX_FILTERS_TEXT)
    try:
        filters = json.loads(raw) if raw else {}
    except ValueError:
        filters = None
    if not (isinstance(filters, dict) and len(filters) <= explorer_series.MAX_FILTERS
            and all(isinstance(value, str) for value in filters.values())):
        raise ApiError(400, f"filters must be a JSON object of at most {explorer_series.MAX_FILTERS} tag names to string values",
                       {"parameter": "filters"})
    return filters


# Pins are each user's own: viewers write theirs too (blueprints/permissions.OWN_WRITES lets these two through), and
# another user's pin answers 404, as if it did not exist.
@bp.get("/explorer/pins")
def list_pins():
    return jsonify(pins=[pins.as_dict(pin) for pin in pins.listing(db.session, current_user.id)])


@bp.post("/explorer/pins")
def create_pin():
    try:
        title, view = pins.read_fields(json_body().payload)
        pin = pins.create(db.session, current_user.id, title, view)
    except pins.PinError as error:
        raise ApiError(422, str(error), {"field": error.field}) from None
    except pins.TooManyPins as error:
        raise ApiError(409, str(error)) from None
    record_event("explorer_pin.create", f"pin {pin.id}", {"title": title, "view": view})
    return jsonify(pin=pins.as_dict(pin)), 201


@bp.delete("/explorer/pins/<int:pin_id>")
def delete_pin(pin_id: int):
    pin = pins.owned(db.session, current_user.id, pin_id) if pin_id <= largest_id(ExplorerPin) else None
    if pin is None:
        raise ApiError(404, f"ExplorerPin {pin_id} not found")
    db.session.delete(pin)
    record_event("explorer_pin.delete", f"pin {pin_id}", {"title": pin.title})
    return "", 204
