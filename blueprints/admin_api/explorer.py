"""The metric explorer: the names seen lately and the series it draws, cached in the "metrics" namespace (which
ingest of metrics clears), and the views each user pinned to their dashboard."""
import json

from blueprints.admin_api import bp
from blueprints.admin_api.reads import answer
from blueprints.http import ApiError, bounded_int, choice_arg, text_arg
from services.analytics import explorer_series, metric_names, metric_queries
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
