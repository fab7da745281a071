"""services.alerts.series: the value a rule watches, per label set, from data stored through the real paths."""
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy.orm import Session

from database import Base, create_database_engine
from services.alerts.series import SeriesError, SeriesQuery, SeriesValue, check, evaluate
from services.ingest import event_schema, writer
from services.monitoring import host_sampler, performance
from services.monitoring.histogram import RELATIVE_ERROR
from services.monitoring.performance import RequestMonitor
from tests.fakes import FakeClock

NOW = datetime(2026, 3, 4, 10, 20, 30, tzinfo=UTC)
WEEK = 7 * 86400
NO_RUNTIME = SimpleNamespace(monitor=RequestMonitor("web-1", 1, clock=FakeClock(NOW.timestamp())))


def open_session(url: str):
    engine = create_database_engine(url)
    Base.metadata.create_all(engine)
    return engine, Session(engine, expire_on_commit=False)


@pytest.fixture
def session(tmp_path):
    engine, session = open_session(f"sqlite:///{tmp_path / 'series.db'}")
    with session:
        yield session
    engine.dispose()


@pytest.fixture
def any_session(any_db_session):
    return any_db_session


def store(session, payload):
    rows, errors = event_schema.parse_batch(payload, NOW)
    assert errors == []
    writer.store_batch(session, rows)
    session.commit()


def point(name, value, at, **tags):
    return {"name": name, "value": value, "tags": tags, "timestamp": at.isoformat()}


def ask(session, source, metric, runtime=NO_RUNTIME, **fields):
    return evaluate(session, runtime, SeriesQuery(source=source, metric=metric, **fields), NOW)


def only_value(values: list[SeriesValue]) -> float | None:
    assert [item.labels for item in values] == [{}]
    return values[0].value


# --- custom metrics -------------------------------------------------------------------------------------------

@pytest.fixture
def latencies(any_session):
    """1..100 in region eu and 1000 in region us, half a minute ago; an old point outside every window."""
    store(any_session, {"metrics": [point("lat", v, NOW - timedelta(seconds=30), region="eu", host="a")
                                    for v in range(1, 101)]
                        + [point("lat", 1000, NOW - timedelta(seconds=10), region="us"),
                           point("lat", 5, NOW - timedelta(hours=5), region="eu")]})
    return any_session


@pytest.mark.parametrize("aggregation, filters, expected", [
    ("avg", {"region": "eu"}, 50.5),
    ("sum", {"region": "eu"}, 5050),
    ("count", {"region": "eu"}, 100),
    ("min", {}, 1),
    ("max", {}, 1000),
    ("count", {}, 101),
    ("sum", {"region": "us"}, 1000),
    ("count", {"region": "eu", "host": "a"}, 100),
    ("count", {"region": "eu", "host": "b"}, None),
])
def test_metric_aggregations_over_the_window(latencies, aggregation, filters, expected):
    values = ask(latencies, "metric", "lat", aggregation=aggregation, filters=filters, window_seconds=300)
    assert only_value(values) == expected


@pytest.mark.parametrize("aggregation, expected", [("p95", 95), ("p99", 99)])
def test_metric_percentiles_come_from_the_rollup_histograms(latencies, aggregation, expected):
    values = ask(latencies, "metric", "lat", aggregation=aggregation, filters={"region": "eu"}, window_seconds=60)
    assert only_value(values) == pytest.approx(expected, rel=RELATIVE_ERROR)


def test_metric_group_by_gives_one_value_per_label_set(latencies):
    values = ask(latencies, "metric", "lat", aggregation="count", group_by=["region"], window_seconds=60)
    assert values == [SeriesValue({"region": "eu"}, 100, 100), SeriesValue({"region": "us"}, 1, 1)]


def test_an_empty_window_is_no_data(latencies):
    assert ask(latencies, "metric", "missing", window_seconds=60) == [SeriesValue({}, None, None)]
    grouped = ask(latencies, "metric", "missing", group_by=["region"], filters={"region": "eu"})
    assert grouped == [SeriesValue({"region": "eu"}, None, None)]
    assert ask(latencies, "metric", "missing", group_by=["region"]) == []  # no label set known


@pytest.mark.parametrize("seconds_before_now, window, counted", [
    (89, 60, True),    # 10:19:01: the window starts at 10:19:00, the minute holding now - 60 s
    (91, 60, False),   # 10:18:59: before that minute
    (0, 60, True),     # the minute in progress counts at once
    (7470, 7400, True),  # 08:16:00: a 2 h window reads 5 m buckets, so it starts at 08:15, not at 08:17:10
    (7531, 7400, False),  # 08:14:59
])
def test_the_window_starts_at_the_bucket_holding_its_start(session, seconds_before_now, window, counted):
    store(session, {"metrics": [point("m", 1, NOW - timedelta(seconds=seconds_before_now))]})
    assert only_value(ask(session, "metric", "m", aggregation="count", window_seconds=window)) == (1 if counted else None)


def test_compare_offset_gives_the_ratio_to_the_same_window_earlier(any_session):
    store(any_session, {"metrics": [point("orders", 30, NOW - timedelta(minutes=2)),
                                    point("orders", 99, NOW - timedelta(seconds=5)),  # minute in progress: left out
                                    point("orders", 7, NOW - timedelta(days=1, minutes=2))]})
    day_ago = ask(any_session, "metric", "orders", aggregation="sum", window_seconds=300, compare_offset_seconds=86400)
    assert day_ago == [SeriesValue({}, 30 / 7, 30, 7)]
    hour_ago = ask(any_session, "metric", "orders", aggregation="sum", window_seconds=300, compare_offset_seconds=3600)
    assert hour_ago == [SeriesValue({}, None, 30, None)]


def test_a_comparison_past_the_minute_rollups_compares_whole_hours(any_session):
    # Minute rollups are gone after MINUTE_ROLLUP_RETENTION_DAYS (7): a week back, only hours are left, so
    # both windows become the last complete hour (09:00-10:00 here) and its twin a week earlier.
    store(any_session, {"metrics": [point("orders", 30, NOW - timedelta(minutes=2)),  # this hour: not complete
                                    point("orders", 40, NOW - timedelta(hours=1)),
                                    point("orders", 20, NOW - timedelta(seconds=WEEK, hours=1)),
                                    point("orders", 10, NOW - timedelta(seconds=WEEK, minutes=2))]})
    values = ask(any_session, "metric", "orders", aggregation="sum", window_seconds=300, compare_offset_seconds=WEEK)
    assert values == [SeriesValue({}, 2.0, 40, 20)]


def test_an_endpoint_comparison_must_stay_within_the_request_rollups():
    with pytest.raises(SeriesError) as refused:
        check(SeriesQuery(source="endpoint", metric="p95", compare_offset_seconds=WEEK))
    assert refused.value.field == "compare_offset_seconds"
    check(SeriesQuery(source="endpoint", metric="p95", compare_offset_seconds=86400))


def test_compare_offset_per_label_set_keeps_sets_seen_in_either_window(session):
    store(session, {"metrics": [point("orders", 4, NOW - timedelta(minutes=2), shop="a"),
                                point("orders", 2, NOW - timedelta(days=1, minutes=2), shop="a"),
                                point("orders", 5, NOW - timedelta(days=1, minutes=2), shop="b")]})
    values = ask(session, "metric", "orders", aggregation="sum", group_by=("shop",), compare_offset_seconds=86400,
                 window_seconds=300)
    assert values == [SeriesValue({"shop": "a"}, 2.0, 4, 2), SeriesValue({"shop": "b"}, None, None, 5)]


@pytest.mark.parametrize("fields, field", [
    ({"source": "nope", "metric": "x"}, "source"),
    ({"source": "host", "metric": "temperature"}, "metric"),
    ({"source": "metric", "metric": ""}, "metric"),
    ({"source": "metric", "metric": "x", "aggregation": "median"}, "aggregation"),
    ({"source": "host", "metric": "cpu", "aggregation": "sum"}, "aggregation"),
    ({"source": "host", "metric": "cpu", "group_by": ["pid"]}, "group_by"),
    ({"source": "endpoint", "metric": "p95", "group_by": ["host"]}, "group_by"),
    ({"source": "business", "metric": "profit"}, "metric"),
    ({"source": "business", "metric": "failure_rate", "filters": {"currency": "USD"}}, "filters"),
    ({"source": "endpoint", "metric": "rps", "filters": {"status": "500"}}, "filters"),
    ({"source": "host", "metric": "cpu", "filters": {"pid": "1"}}, "filters"),
])
def test_unknown_fields_are_refused_by_name(session, fields, field):
    with pytest.raises(SeriesError) as raised:
        evaluate(session, NO_RUNTIME, SeriesQuery(**fields), NOW)
    assert raised.value.field == field and isinstance(raised.value, ValueError)


@pytest.mark.parametrize("fields, field", [({"window_seconds": 0}, "window_seconds"),
                                           ({"compare_offset_seconds": -5}, "compare_offset_seconds")])
def test_impossible_windows_are_refused_by_name(fields, field):
    with pytest.raises(SeriesError, match=field):
        SeriesQuery(source="metric", metric="m", **fields)


def test_a_query_maps_from_a_rule_by_field_name():
    body = {"name": "slow", "source": "metric", "metric": "lat", "filters": {"r": "eu"}, "group_by": ["host"],
            "aggregation": "p95", "window_seconds": 120, "threshold": 3, "compare_offset_seconds": None}
    expected = SeriesQuery("metric", "lat", {"r": "eu"}, ("host",), "p95", 120, None)
    assert SeriesQuery.of(body) == expected == SeriesQuery.of(SimpleNamespace(**body))


# --- host -----------------------------------------------------------------------------------------------------

def host_sample(when: datetime, cpu: float, memory: float, host="web-1", pid=100) -> dict:
    """A sample in the shape HostSampler.take() returns."""
    return {"host": host, "pid": pid, "ts": when.isoformat(),
            "cpu": {"percent": cpu, "per_core": [cpu], "load_avg": [cpu / 10, 0.0, 0.0]},
            "memory": {"percent": memory, "used": 1, "total": 2, "available": 1},
            "swap": {"percent": 0.0, "used": 0, "total": 0},
            "disk": {"percent": 50.0, "used": 1, "total": 2, "read_bytes_per_s": 0.0, "write_bytes_per_s": 0.0},
            "network": {"sent_bytes_per_s": 0.0, "recv_bytes_per_s": cpu * 100},
            "process": {"rss": 1000 + int(memory), "cpu_percent": 1.0, "threads": 1, "open_files": 1}}


@pytest.fixture
def host_history(session):
    """Samples every 10 s for five minutes on two hosts, rolled up to minutes as the maintenance job does."""
    samples = []
    for step in range(30):
        when = NOW - timedelta(seconds=300 - 10 * step)
        samples.append(host_sample(when, cpu=float(step), memory=float(when.minute)))
        samples.append(host_sample(when, cpu=50.0, memory=10.0, host="db-1", pid=7))
    for each in samples:
        host_sampler.store(session, each)
    host_sampler.roll_up(session, "1m", NOW)
    session.commit()
    return [each for each in samples if each["host"] == "web-1"]


def in_window(samples, seconds):
    start = (NOW - timedelta(seconds=seconds)).replace(second=0)
    return [each for each in samples if datetime.fromisoformat(each["ts"]) >= start]


@pytest.mark.parametrize("metric, aggregation, expected", [
    ("cpu", "avg", lambda s: sum(each["cpu"]["percent"] for each in s) / len(s)),
    ("cpu", "max", lambda s: max(each["cpu"]["percent"] for each in s)),
    ("cpu", "count", len),
    ("memory", "min", lambda s: min(each["memory"]["percent"] for each in s)),
    ("load", "avg", lambda s: sum(each["cpu"]["load_avg"][0] for each in s) / len(s)),
    ("net_recv", "avg", lambda s: sum(each["network"]["recv_bytes_per_s"] for each in s) / len(s)),
    ("process_rss", "max", lambda s: max(each["process"]["rss"] for each in s)),
])
@pytest.mark.parametrize("window", [60, 150])
def test_host_figures_over_rollups_and_the_samples_after_them(session, host_history, metric, aggregation, expected,
                                                              window):
    values = ask(session, "host", metric, aggregation=aggregation, filters={"host": "web-1"}, window_seconds=window)
    assert only_value(values) == pytest.approx(expected(in_window(host_history, window)), abs=0.01)


def test_long_host_windows_read_hours_then_minutes_then_samples(session):
    samples = [host_sample(NOW - timedelta(minutes=minutes), cpu=float(minutes % 97), memory=1.0)
               for minutes in range(1, 9 * 60)]
    for each in samples:
        host_sampler.store(session, each)
    host_sampler.roll_up(session, "1m", NOW - timedelta(minutes=20))
    host_sampler.roll_up(session, "1h", NOW - timedelta(minutes=20))  # 10:00 not rolled up: its minutes, then raw
    session.commit()
    start = (NOW - timedelta(hours=7)).replace(minute=0, second=0)  # hour rollups: the window starts at 03:00
    expected = [each["cpu"]["percent"] for each in samples if datetime.fromisoformat(each["ts"]) >= start]
    avg = ask(session, "host", "cpu", filters={"host": "web-1"}, window_seconds=7 * 3600)
    count = ask(session, "host", "cpu", aggregation="count", window_seconds=7 * 3600)
    assert (only_value(avg), only_value(count)) == (pytest.approx(sum(expected) / len(expected), abs=0.01),
                                                    len(expected))


def test_host_group_by_gives_one_value_per_host(session, host_history):
    values = ask(session, "host", "cpu", aggregation="count", group_by=["host"], window_seconds=60)
    assert [(item.labels, item.value) for item in values] == [({"host": "db-1"}, 9), ({"host": "web-1"}, 9)]
    assert only_value(ask(session, "host", "cpu", filters={"host": "gone"})) is None


# --- endpoints ------------------------------------------------------------------------------------------------

@pytest.fixture
def requests_seen(session):
    """Minute 10:19 flushed to rollups (10 requests of 100 ms, one failing), the minute of now still in memory."""
    monitor = RequestMonitor("web-1", 1, clock=FakeClock(NOW.timestamp()))
    for index in range(10):
        monitor.record("api.items", "GET", 500 if index == 0 else 200, 100.0, now=NOW.timestamp() - 60)
        monitor.record("api.items", "POST", 200, 300.0, now=NOW.timestamp())
    monitor.record("api.users", "GET", 200, 5.0, now=NOW.timestamp())
    performance.flush(session, monitor.drain_completed(NOW.timestamp()))
    session.commit()
    return SimpleNamespace(monitor=monitor)


@pytest.mark.parametrize("metric, filters, window, expected", [
    ("rps", {"endpoint": "api.items"}, 60, 20 / 90),  # the window runs from 10:19:00 to now
    ("rps", {}, 60, 21 / 90),
    ("rps", {}, 30, 11 / 30),  # from 10:20:00: the minute in memory only
    ("error_rate", {"endpoint": "api.items"}, 60, 1 / 20),
    ("error_rate", {"endpoint": "api.items"}, 30, 0.0),
    ("p95", {"endpoint": "api.items"}, 60, 300),
    ("p99", {"endpoint": "api.users"}, 60, 5),
    ("avg", {"endpoint": "api.items"}, 60, 200),
    ("p95", {"endpoint": "api.none"}, 60, None),
    ("rps", {"endpoint": "api.items", "method": "POST"}, 60, 10 / 90),
    ("rps", {"method": "GET"}, 30, 1 / 30),
])
def test_endpoint_figures_from_rollups_and_the_minute_in_memory(session, requests_seen, metric, filters, window,
                                                                expected):
    values = ask(session, "endpoint", metric, runtime=requests_seen, filters=filters, window_seconds=window)
    assert only_value(values) == (None if expected is None else pytest.approx(expected, rel=RELATIVE_ERROR))


@pytest.mark.parametrize("group_by, expected", [
    (["endpoint"], [({"endpoint": "api.items"}, 20), ({"endpoint": "api.users"}, 1)]),
    (["method", "endpoint"], [({"endpoint": "api.items", "method": "GET"}, 10),
                              ({"endpoint": "api.items", "method": "POST"}, 10),
                              ({"endpoint": "api.users", "method": "GET"}, 1)]),
    (["method"], [({"method": "GET"}, 11), ({"method": "POST"}, 10)]),
])
def test_endpoint_group_by_gives_one_value_per_label_set(session, requests_seen, group_by, expected):
    values = ask(session, "endpoint", "rps", runtime=requests_seen, group_by=group_by, window_seconds=60)
    assert [(item.labels, round(item.value * 90)) for item in values] == expected


def test_endpoint_comparison_uses_complete_minutes(session, requests_seen):
    values = ask(session, "endpoint", "rps", runtime=requests_seen, window_seconds=60, compare_offset_seconds=60)
    assert values == [SeriesValue({}, None, 10 / 60, None)]  # only 10:19 now; nothing the minute before


# --- business -------------------------------------------------------------------------------------------------

def tx(id, amount, at, status="completed", currency="USD", user="u"):
    return {"id": id, "amount": amount, "currency": currency, "status": status, "user_id": user,
            "timestamp": at.isoformat()}


@pytest.fixture
def sales(session):
    recent, last_week = NOW - timedelta(seconds=30), NOW - timedelta(seconds=WEEK + 30)
    store(session, {"transactions": [tx("a", "10", recent), tx("b", "20.5", recent), tx("c", "5", recent, currency="EUR"),
                                     tx("d", "1", recent, "failed"), tx("e", "3", recent, "pending"),
                                     tx("old", "10", NOW - timedelta(minutes=10)), tx("w", "15.25", last_week)],
                    "activities": [{"user_id": user, "action": "view", "timestamp": recent.isoformat()}
                                   for user in ("u1", "u2", "u2", "u3")]})
    return session


@pytest.mark.parametrize("metric, fields, expected", [
    ("revenue", {}, [({"currency": "EUR"}, 5.0), ({"currency": "USD"}, 30.5)]),
    ("revenue", {"filters": {"currency": "USD"}}, [({"currency": "USD"}, 30.5)]),
    ("revenue", {"filters": {"currency": "JPY"}}, [({"currency": "JPY"}, None)]),
    ("revenue", {"window_seconds": 900}, [({"currency": "EUR"}, 5.0), ({"currency": "USD"}, 40.5)]),
    ("failure_rate", {}, [({}, 0.25)]),
    ("transactions_per_minute", {}, [({}, 5)]),
    ("transactions_per_minute", {"window_seconds": 900}, [({}, 0.4)]),
    ("active_users", {}, [({}, 3)]),
    ("active_users", {"window_seconds": 20}, [({}, None)]),
])
def test_business_figures_over_the_exact_window(sales, metric, fields, expected):
    values = ask(sales, "business", metric, **({"window_seconds": 60} | fields))
    assert [(item.labels, item.value) for item in values] == expected


def test_revenue_compared_with_the_same_window_last_week(sales):
    values = ask(sales, "business", "revenue", window_seconds=60, compare_offset_seconds=WEEK)
    assert values == [SeriesValue({"currency": "EUR"}, None, 5.0, None),
                      SeriesValue({"currency": "USD"}, 2.0, 30.5, 15.25)]


@pytest.mark.parametrize("now, window, expected", [
    (NOW, 3 * 3600, 1 + 2 + 4 + 8 + 16 + 32),  # 07:20:30 to 10:20:30: two edge hours from transactions
    (NOW, 600, 32),
    (NOW.replace(minute=0, second=0), 3600, 8 + 16),  # exactly 09:00 to 10:00: the hour's rollup alone
    (NOW.replace(minute=0, second=0), 2 * 3600, 4 + 8 + 16),
    (NOW.replace(minute=30, second=0) - timedelta(hours=1), 1800, None),  # 09:00 to 09:30: no sale, no currency
])
def test_revenue_windows_read_whole_hours_from_rollups_and_edges_from_transactions(session, now, window, expected):
    at = {"07:20:00": "100", "07:20:31": "1", "07:59:59": "2", "08:00:00": "4", "09:30:00": "8", "09:59:59": "16",
          "10:20:29": "32", "10:20:30": "100"}
    moments = {text: NOW.replace(hour=int(text[:2]), minute=int(text[3:5]), second=int(text[6:])) for text in at}
    store(session, {"transactions": [tx(text, amount, moments[text]) for text, amount in at.items()]
                    + [tx("failed", "50", moments["09:30:00"], "failed")]})
    values = evaluate(session, NO_RUNTIME, SeriesQuery("business", "revenue", window_seconds=window), now)
    assert values == ([] if expected is None else [SeriesValue({"currency": "USD"}, expected, expected)])
