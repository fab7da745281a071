"""Business analytics: revenue, transactions and their flow, user activity, custom metric series."""
from datetime import timedelta

from flask import request

from blueprints.admin_api import bp
from blueprints.admin_api.reads import cached_json
from blueprints.http import ApiError, bounded_int, choice_arg, runtime, time_arg
from database import utcnow
from extensions import db
from services.analytics import business, metric_queries
from services.analytics.time_buckets import RangeError, floor_time
from services.ingest.event_schema import STATUSES
from services.monitoring import performance


@bp.get("/analytics/revenue")
def revenue():
    period = choice_arg("period", tuple(business.PERIOD_BUCKETS), "hourly")
    currency = (request.args.get("currency") or "").upper() or None
    try:
        start, end = business.revenue_range(period, time_arg("start"), time_arg("end"), utcnow())
    except RangeError as error:
        raise ApiError(422, str(error)) from None
    key = (period, request.args.get("start"), request.args.get("end"), currency)
    return cached_json("revenue", key, lambda: business.revenue(db.session, period, start, end, currency))


@bp.get("/transactions")
def transactions():
    status = choice_arg("status", STATUSES)
    since, limit = time_arg("since"), bounded_int("limit", 50, maximum=500)
    key = ("recent", status, request.args.get("since"), limit)
    return cached_json("analytics", key, lambda: {
        "transactions": business.recent_transactions(db.session, limit, status, since)})


@bp.get("/transactions/flow")
def transaction_flow():
    until = time_arg("until") or utcnow()
    since = time_arg("since") or until - timedelta(hours=24)
    if since >= until:
        raise ApiError(422, "since must be before until")
    key = ("flow", request.args.get("since"), request.args.get("until"))
    return cached_json("analytics", key, lambda: business.transaction_flow(db.session, since, until))


@bp.get("/user-activity")
def user_activity():
    minutes = bounded_int("minutes", 30, maximum=1440)
    limit = bounded_int("limit", 50, maximum=500)
    return cached_json("analytics", ("activity", minutes, limit),
                       lambda: business.user_activity(db.session, utcnow(), minutes, limit))


@bp.get("/metrics/query")
def metrics_query():
    name = request.args.get("name")
    if not name:
        raise ApiError(400, "name is required", {"parameter": "name"})
    agg = choice_arg("agg", metric_queries.AGGREGATIONS, "avg")
    bucket = choice_arg("bucket", metric_queries.BUCKETS, "1m")
    group_by = request.args.get("group_by") or None
    try:
        start, end = metric_queries.query_range(bucket, time_arg("start"), time_arg("end"), utcnow())
    except RangeError as error:
        raise ApiError(422, str(error)) from None
    key = (name, agg, bucket, request.args.get("start"), request.args.get("end"), group_by)
    return cached_json("metrics", key,
                       lambda: metric_queries.series(db.session, name, agg, bucket, start, end, group_by))


@bp.get("/analytics/timeline")
def timeline():
    minutes = bounded_int("minutes", 60, maximum=1440)
    services = runtime()

    def compute():
        until = utcnow()
        since = floor_time(until - timedelta(minutes=minutes - 1), "1m")
        by_minute = performance.per_minute(db.session, since, until, services.monitor.snapshot_current())
        return business.timeline(db.session, since, until, by_minute)
    return cached_json("analytics", ("timeline", minutes), compute)
