"""Business analytics: revenue, transactions and their flow, user activity, custom metric series."""
from blueprints.admin_api import bp
from blueprints.admin_api.reads import answer
from blueprints.http import ApiError, bounded_int, choice_arg, text_arg, time_arg
from services.analytics import activity_heatmap, business, metric_queries
from services.dashboard import reads
from services.ingest.event_schema import STATUSES


@bp.get("/analytics/revenue")
def revenue():
    return answer(reads.REVENUE, period=choice_arg("period", tuple(business.PERIOD_BUCKETS), "hourly"),
                  start=time_arg("start"), end=time_arg("end"),
                  currency=(text_arg("currency", 3) or "").upper() or None)


@bp.get("/transactions")
def transactions():
    return answer(reads.TRANSACTIONS, status=choice_arg("status", STATUSES), since=time_arg("since"),
                  limit=bounded_int("limit", 50, maximum=500))


@bp.get("/transactions/flow")
def transaction_flow():
    return answer(reads.FLOW, since=time_arg("since"), until=time_arg("until"))


@bp.get("/user-activity")
def user_activity():
    return answer(reads.ACTIVITY, minutes=bounded_int("minutes", 30, maximum=1440),
                  limit=bounded_int("limit", 50, maximum=500))


@bp.get("/analytics/activity-heatmap")
def activity_by_hour_and_weekday():
    return answer(reads.HEATMAP, days=bounded_int("days", activity_heatmap.DEFAULT_DAYS, maximum=activity_heatmap.MAX_DAYS),
                  action=text_arg("action", 64))


@bp.get("/metrics/query")
def metrics_query():
    name = text_arg("name", 200)
    if not name:
        raise ApiError(400, "name is required", {"parameter": "name"})
    return answer(reads.METRIC_SERIES, name=name, agg=choice_arg("agg", metric_queries.AGGREGATIONS, "avg"),
                  bucket=choice_arg("bucket", metric_queries.BUCKETS, "1m"), start=time_arg("start"),
                  end=time_arg("end"), group_by=text_arg("group_by", 64))


@bp.get("/analytics/timeline")
def timeline():
    return answer(reads.TIMELINE, minutes=bounded_int("minutes", 60, maximum=1440))
