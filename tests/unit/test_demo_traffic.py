"""Demo traffic: batches the ingest schema accepts, a daily rhythm, backfill, and a sender that survives outages.

HTTP goes to a real server on 127.0.0.1; time is fake, so nothing waits.
"""
import json
import logging
import random
import re
import socket
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from services.demo.shop import daily_rhythm
from services.demo.traffic import (
    KINDS,
    MAX_BATCH_ITEMS,
    RETRY_MAX,
    RETRY_TRIES,
    DemoTraffic,
    batches,
    item_count,
)
from services.ingest.event_schema import BatchError, check_batch_shape, parse_batch

WEDNESDAY = datetime(2026, 3, 4, tzinfo=UTC)
NOW = WEDNESDAY.replace(hour=12, minute=30)
API_KEY = "pb_demo-test-key"


class FakeTime:
    """A clock that moves only when the code under test sleeps; every sleep is recorded."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start.timestamp()
        self.sleeps: list[float] = []
        self.on_sleep = lambda: None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.on_sleep()


class IngestServer(ThreadingHTTPServer):
    """Answers like the ingest API (same validation, same limits) with scripted statuses."""

    def __init__(self, clock) -> None:
        super().__init__(("127.0.0.1", 0), IngestHandler)
        self.clock = clock
        self.statuses: list[int] = []  # answered first, one per POST
        self.status = 202  # then this
        self.health: list[int] = []  # /healthz answers before 200
        self.posts: list[dict] = []
        self.keys: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class IngestHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = self.server.health.pop(0) if self.server.health else 200
        self.reply(status if self.path == "/healthz" else 404, {"status": "ok"})

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.posts.append(payload)
        self.server.keys.append(self.headers["Authorization"])
        status = self.server.statuses.pop(0) if self.server.statuses else self.server.status
        try:
            check_batch_shape(payload)
        except BatchError as error:
            status = error.status
        if status != 202:
            return self.reply(status, {"error": "scripted failure"})
        valid, errors = parse_batch(payload, datetime.fromtimestamp(self.server.clock(), UTC))
        self.reply(202, {"accepted": sum(map(len, valid.values())), "rejected": len(errors), "errors": errors})

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass  # keeps test output readable


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def server(fake_time):
    httpd = IngestServer(fake_time.clock)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def dead_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


@pytest.fixture
def make_traffic(fake_time, http):
    def make(url: str = "http://127.0.0.1:9", seed: int = 7, **options) -> DemoTraffic:
        return DemoTraffic(url, API_KEY, rng=random.Random(seed), clock=fake_time.clock, sleep=fake_time.sleep,
                           session=http, **options)
    return make


def stream(traffic: DemoTraffic, start: datetime, batches_wanted: int, step: timedelta) -> list[tuple[datetime, dict]]:
    return [(start + n * step, traffic.make_batch(start + n * step)) for n in range(batches_wanted)]


def new_transactions(batches_made) -> list[dict]:
    """Each transaction as first sent: re-sends of settled ones are updates, not new sales."""
    seen, first = set(), []
    for _, batch in batches_made:
        for item in batch["transactions"]:
            if item["id"] not in seen:
                seen.add(item["id"])
                first.append(item)
    return first


@pytest.fixture(scope="module")
def midday_transactions():
    traffic = DemoTraffic("http://127.0.0.1:9", API_KEY, rng=random.Random(11))
    return new_transactions(stream(traffic, WEDNESDAY.replace(hour=12), 3000, timedelta(seconds=1)))


@pytest.mark.parametrize(("interval", "step_minutes"), [(1.0, 5), (60.0, 30)])
def test_every_batch_over_a_day_passes_the_ingest_schema(make_traffic, interval, step_minutes):
    traffic = make_traffic(interval=interval)
    for now, batch in stream(traffic, WEDNESDAY, 24 * 60 // step_minutes, timedelta(minutes=step_minutes)):
        valid, errors = parse_batch(batch, now)
        assert errors == []
        assert 0 < item_count(batch) <= MAX_BATCH_ITEMS
        assert all(row["occurred_at"] <= now for rows in valid.values() for row in rows)
        assert {row["name"] for row in valid["metrics"]} == {"checkout.latency_ms", "queue.depth", "signups"}


@pytest.mark.parametrize(("hour", "level"), [(4, 0.0), (9.5, 0.5), (15, 1.0), (28, 0.0)])
def test_daily_rhythm_is_lowest_at_four_and_highest_at_fifteen_utc(hour, level):
    assert daily_rhythm(WEDNESDAY + timedelta(hours=hour)) == pytest.approx(level, abs=1e-9)


@pytest.mark.parametrize("kind", ["transactions", "activities"])
def test_the_afternoon_peak_carries_more_than_twice_the_night_traffic(kind):
    def mean_count(hour: int) -> float:
        traffic = DemoTraffic("http://127.0.0.1:9", API_KEY, rng=random.Random(hour))
        made = stream(traffic, WEDNESDAY.replace(hour=hour), 500, timedelta(seconds=1))
        return sum(len(batch[kind]) for _, batch in made) / len(made)
    night, peak = mean_count(4), mean_count(15)
    assert 1 <= night and peak > 2 * night


@pytest.mark.parametrize(("field", "value", "share"), [
    ("currency", "USD", 0.60), ("currency", "EUR", 0.25), ("currency", "GBP", 0.10), ("currency", "JPY", 0.05),
    ("status", "completed", 0.85), ("status", "pending", 0.07), ("status", "failed", 0.06),
    ("status", "refunded", 0.02),
])
def test_currency_and_status_shares(midday_transactions, field, value, share):
    counts = Counter(item[field] for item in midday_transactions)
    assert len(midday_transactions) > 10_000
    assert counts[value] / len(midday_transactions) == pytest.approx(share, abs=0.02)


@pytest.mark.parametrize(("currency", "pattern"), [("USD", r"\d+\.\d\d"), ("EUR", r"\d+\.\d\d"),
                                                   ("GBP", r"\d+\.\d\d"), ("JPY", r"\d+")])
def test_amounts_are_decimal_strings_whole_for_yen(midday_transactions, currency, pattern):
    amounts = [item["amount"] for item in midday_transactions if item["currency"] == currency]
    assert amounts and all(re.fullmatch(pattern, amount) for amount in amounts)


def test_dollar_amounts_are_mostly_modest_with_a_long_tail(midday_transactions):
    amounts = sorted(float(item["amount"]) for item in midday_transactions if item["currency"] == "USD")
    assert 15 <= amounts[len(amounts) // 2] <= 60
    assert amounts[0] >= 1 and amounts[-1] > 500


def test_pending_transactions_are_resent_later_with_the_same_id_and_a_final_status(make_traffic):
    sent: dict[str, list[dict]] = {}
    for _, batch in stream(make_traffic(), WEDNESDAY.replace(hour=15), 1800, timedelta(seconds=1)):
        for item in batch["transactions"]:
            sent.setdefault(item["id"], []).append(item)
    repeated = [versions for versions in sent.values() if len(versions) > 1]
    assert len(repeated) > 50
    for first, later in repeated:
        assert (first["status"], later["status"] in ("completed", "failed")) == ("pending", True)
        assert {**later, "status": "pending"} == first


def test_sessions_begin_with_a_login_and_use_known_actions(make_traffic):
    opened = set()
    for _, batch in stream(make_traffic(), WEDNESDAY.replace(hour=15), 600, timedelta(seconds=1)):
        for item in batch["activities"]:
            assert item["action"] in ("login", "page_view", "search", "export", "logout")
            assert item["action"] == "login" or item["session_id"] in opened
            opened.add(item["session_id"])


@pytest.mark.parametrize(("count", "sizes"), [(0, []), (1, [1]), (5000, [5000]), (12_001, [5000, 5000, 2001])])
def test_batches_split_items_into_requests_of_at_most_5000(count, sizes):
    items = [(KINDS[n % 3], {"n": n}) for n in range(count)]
    payloads = batches(items)
    assert [item_count(payload) for payload in payloads] == sizes
    assert sorted(item["n"] for payload in payloads for kind in KINDS for item in payload[kind]) == list(range(count))


@pytest.mark.parametrize("days", [1, 7])
def test_backfill_covers_the_requested_days_in_bounded_requests(make_traffic, server, days):
    accepted = make_traffic(server.url).backfill(NOW, days)
    assert all(item_count(payload) <= MAX_BATCH_ITEMS for payload in server.posts)
    assert accepted == sum(map(item_count, server.posts)) > days * 24 * 20
    stamps = [datetime.fromisoformat(item["timestamp"]) for payload in server.posts
              for kind in KINDS for item in payload[kind]]
    assert all(stamp <= NOW for stamp in stamps)
    first_hour = NOW.replace(minute=0) - timedelta(days=days)
    assert {stamp.replace(minute=0, second=0, microsecond=0) for stamp in stamps} == {
        first_hour + timedelta(hours=hour) for hour in range(days * 24 + 1)}


@pytest.mark.parametrize("failures", [[503, 503], [429], [500, 502, 503, 504]])
def test_send_retries_outages_with_growing_delays_then_succeeds(make_traffic, server, fake_time, failures):
    server.statuses = list(failures)
    traffic = make_traffic(server.url)
    batch = traffic.make_batch(NOW)
    answer = traffic.send(batch)
    assert answer == {"accepted": item_count(batch), "rejected": 0, "errors": []}
    assert len(server.posts) == len(failures) + 1
    assert [0.4 * 2 ** n <= delay <= 0.6 * 2 ** n for n, delay in enumerate(fake_time.sleeps)] == [True] * len(failures)


def test_send_gives_up_after_bounded_tries_against_a_failing_server(make_traffic, server, fake_time):
    server.status = 500
    traffic = make_traffic(server.url)
    assert traffic.send(traffic.make_batch(NOW)) is None
    assert len(server.posts) == RETRY_TRIES and len(fake_time.sleeps) == RETRY_TRIES - 1
    assert fake_time.sleeps == sorted(fake_time.sleeps) and not traffic.stopped


def test_send_gives_up_when_nothing_listens(make_traffic, dead_url, fake_time):
    traffic = make_traffic(dead_url)
    assert traffic.send(traffic.make_batch(NOW)) is None
    assert len(fake_time.sleeps) == RETRY_TRIES - 1


def test_run_gives_up_on_a_server_that_never_comes_up_with_delays_capped(make_traffic, dead_url, fake_time):
    assert make_traffic(dead_url).run(max_batches=3) == 0
    assert fake_time.sleeps[0] < 1 and max(fake_time.sleeps) <= RETRY_MAX and fake_time.sleeps[-1] >= 0.8 * RETRY_MAX


def test_run_waits_until_the_server_is_healthy(make_traffic, server, fake_time):
    server.health = [503, 503]
    assert make_traffic(server.url, backfill_days=0).run(max_batches=1) == 1
    assert len(server.posts) == 1 and len(fake_time.sleeps) == 3  # two waits for health, one interval


@pytest.mark.parametrize(("backfill_days", "backfill_posts"), [(0, 0), (1, 1)])
def test_run_posts_exactly_max_batches_after_the_backfill(make_traffic, server, fake_time, backfill_days,
                                                          backfill_posts):
    assert make_traffic(server.url, backfill_days=backfill_days).run(max_batches=3) == 3
    assert len(server.posts) == 3 + backfill_posts and set(server.keys) == {f"Bearer {API_KEY}"}
    live = [payload["metrics"][0]["timestamp"] for payload in server.posts[backfill_posts:]]
    assert len(set(live)) == 3 and fake_time.sleeps == [1.0] * 3


@pytest.mark.parametrize(("backfill_days", "live_batches"), [(0, 1), (1, 0)])
def test_a_refused_key_stops_the_generator_and_is_logged_once(make_traffic, server, caplog, backfill_days,
                                                              live_batches):
    server.status = 401
    traffic = make_traffic(server.url, backfill_days=backfill_days)
    with caplog.at_level(logging.WARNING, logger="pulseboard.demo"):
        assert traffic.run(max_batches=10) == live_batches
    assert traffic.stopped and len(server.posts) == 1
    assert [record.getMessage() for record in caplog.records if "key" in record.getMessage()] == [
        "demo traffic: the API key was refused (revoked?); stopping"]


@pytest.mark.parametrize("set_after_sleeps", [0, 2])
def test_setting_the_stop_event_ends_run(make_traffic, server, fake_time, set_after_sleeps):
    stop = threading.Event()
    if set_after_sleeps == 0:
        stop.set()
    fake_time.on_sleep = lambda: len(fake_time.sleeps) >= set_after_sleeps and stop.set()
    assert make_traffic(server.url, backfill_days=0).run(stop) == set_after_sleeps
    assert len(server.posts) == set_after_sleeps


def test_progress_is_logged_at_most_once_a_minute(make_traffic, server, caplog):
    with caplog.at_level(logging.INFO, logger="pulseboard.demo"):
        make_traffic(server.url, backfill_days=0).run(max_batches=150)
    lines = [record.getMessage() for record in caplog.records if "items sent" in record.getMessage()]
    assert len(lines) == 2 and all(", 0 rejected in the last minute" in line for line in lines)


@pytest.mark.parametrize("interval", [0, -1, 61])
def test_the_interval_must_keep_batches_small(interval):
    with pytest.raises(ValueError, match="interval"):
        DemoTraffic("http://127.0.0.1:9", API_KEY, interval=interval)
