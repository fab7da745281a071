import json
import os
import socket
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import psutil
import pytest
from sqlalchemy import select

from database import HostSample
from services.monitoring import host_sampler
from services.monitoring.host_sampler import HostSampler
from tests.fakes import FakeClock

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SAMPLE_KEYS = {
    "cpu": {"percent", "per_core", "load_avg"},
    "memory": {"percent", "used", "total", "available"},
    "swap": {"percent", "used", "total"},
    "disk": {"percent", "used", "total", "read_bytes_per_s", "write_bytes_per_s"},
    "network": {"sent_bytes_per_s", "recv_bytes_per_s"},
    "process": {"rss", "cpu_percent", "threads", "open_files"},
}
RATES = [("disk", "read_bytes_per_s"), ("disk", "write_bytes_per_s"),
         ("network", "sent_bytes_per_s"), ("network", "recv_bytes_per_s")]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class FakeCounters:
    """Stands in for psutil's disk and network I/O counters, which only ever grow on a real host."""

    def __init__(self) -> None:
        self.disk = SimpleNamespace(read_bytes=0, write_bytes=0)
        self.net = SimpleNamespace(bytes_sent=0, bytes_recv=0)

    def sampler(self, clock: FakeClock) -> HostSampler:
        return HostSampler(clock=clock, disk_io=lambda: self.disk, net_io=lambda: self.net)


def sample(when: datetime, cpu=10.0, memory=40.0, disk=50.0, host="web-1", pid=100, rss=1000) -> dict:
    """A handmade sample in the shape HostSampler.take() returns."""
    return {"host": host, "pid": pid, "ts": when.isoformat(),
            "cpu": {"percent": cpu, "per_core": [cpu, cpu], "load_avg": [1.0, 1.0, 1.0]},
            "memory": {"percent": memory, "used": 1, "total": 2, "available": 1},
            "swap": {"percent": 0.0, "used": 0, "total": 0},
            "disk": {"percent": disk, "used": 1, "total": 2, "read_bytes_per_s": 100.0, "write_bytes_per_s": 0.0},
            "network": {"sent_bytes_per_s": 0.0, "recv_bytes_per_s": 0.0},
            "process": {"rss": rss, "cpu_percent": cpu, "threads": 4, "open_files": 9}}


def add_row(session, resolution: str, when: datetime, host="web-1", pid=100, cpu=0.0, memory=0.0, data=None):
    session.add(HostSample(host=host, pid=pid, resolution=resolution, taken_at=when, cpu_percent=cpu,
                           memory_percent=memory, disk_percent=0.0, data=data or {}))
    session.flush()


def rows_of(session, resolution: str) -> list[HostSample]:
    query = select(HostSample).where(HostSample.resolution == resolution)
    return list(session.scalars(query.order_by(HostSample.host, HostSample.pid, HostSample.taken_at)))


def age_of(row: HostSample, now: datetime) -> float:
    return (now - row.taken_at).total_seconds()


def burn_cpu(seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass


@pytest.fixture
def taken():
    """Two real samples of this host and process, the second with rates and CPU over a busy interval."""
    sampler = HostSampler()
    sampler.take()
    burn_cpu(0.3)
    return sampler.take()


def test_a_sample_has_every_section_and_names_its_host_and_process(taken):
    assert taken.keys() == {"host", "pid", "ts", *SAMPLE_KEYS}
    assert {section: taken[section].keys() for section in SAMPLE_KEYS} == SAMPLE_KEYS
    assert (taken["host"], taken["pid"]) == (socket.gethostname(), os.getpid())
    assert datetime.fromisoformat(taken["ts"]).utcoffset() == timedelta(0)


def test_a_sample_survives_json_unchanged(taken):
    assert json.loads(json.dumps(taken)) == taken


@pytest.mark.parametrize("section", ["memory", "swap", "disk"])
def test_usage_percentages_are_between_0_and_100_and_used_fits_total(taken, section):
    assert 0 <= taken[section]["percent"] <= 100
    assert 0 <= taken[section]["used"] <= taken[section]["total"]


def test_cpu_reports_every_core_and_three_load_averages(taken):
    cpu = taken["cpu"]
    assert len(cpu["per_core"]) == psutil.cpu_count()
    assert all(0 <= value <= 100 for value in [cpu["percent"], *cpu["per_core"]])
    assert len(cpu["load_avg"]) == 3 and all(load >= 0 for load in cpu["load_avg"])


@pytest.mark.parametrize("section, key", RATES)
def test_rates_are_never_negative(taken, section, key):
    assert taken[section][key] >= 0


def test_process_cpu_counts_this_process_busy_time(taken):
    # Per core, as top shows it: a process can use up to 100% of every core.
    assert 20 <= taken["process"]["cpu_percent"] <= 100 * psutil.cpu_count()
    assert 0 < taken["process"]["rss"] <= taken["memory"]["total"]


def test_process_threads_and_open_files_follow_this_process(tmp_path):
    clock = FakeClock(time.time())
    sampler = HostSampler(clock=clock)
    before = sampler.take()["process"]
    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    try:
        with open(tmp_path / "held", "w"):
            clock.advance(host_sampler.OPEN_FILES_REFRESH_SECONDS - 1)
            soon = sampler.take()["process"]
            clock.advance(1)
            after = sampler.take()["process"]
    finally:
        release.set()
        worker.join()
    assert after["threads"] == before["threads"] + 1
    assert soon["open_files"] == before["open_files"], "counted again before the refresh interval"
    assert after["open_files"] == before["open_files"] + 1


def test_the_timestamp_comes_from_the_clock_in_utc():
    assert HostSampler(clock=FakeClock(1_700_000_000.5)).take()["ts"] == "2023-11-14T22:13:20.500000+00:00"


@pytest.mark.parametrize("counter, field, section, key", [
    ("disk", "read_bytes", "disk", "read_bytes_per_s"),
    ("disk", "write_bytes", "disk", "write_bytes_per_s"),
    ("net", "bytes_sent", "network", "sent_bytes_per_s"),
    ("net", "bytes_recv", "network", "recv_bytes_per_s"),
])
def test_a_rate_is_the_counter_delta_over_clock_time(counter, field, section, key):
    clock, counters = FakeClock(), FakeCounters()
    sampler = counters.sampler(clock)
    assert all(sampler.take()[s][k] == 0.0 for s, k in RATES)  # nothing to compare the first reading with
    setattr(getattr(counters, counter), field, 5000)
    clock.now += 2.5
    second = sampler.take()
    assert second[section][key] == 2000.0
    assert all(second[s][k] == 0.0 for s, k in RATES if (s, k) != (section, key))


@pytest.mark.parametrize("read_bytes, seconds", [(500, 0.0), (500, -1.0), (0, 1.0)], ids=[
    "clock stood still", "clock went back", "counter was reset"])
def test_a_rate_is_zero_when_no_time_passed_or_the_counter_was_reset(read_bytes, seconds):
    clock, counters = FakeClock(), FakeCounters()
    sampler = counters.sampler(clock)
    counters.disk.read_bytes = 1000
    sampler.take()
    counters.disk.read_bytes, clock.now = read_bytes, clock.now + seconds
    assert sampler.take()["disk"]["read_bytes_per_s"] == 0.0


def test_missing_io_counters_read_as_zero():
    clock = FakeClock()
    sampler = HostSampler(clock=clock, disk_io=lambda: None, net_io=lambda: None)
    sampler.take()
    clock.now += 1
    assert all(sampler.take()[s][k] == 0.0 for s, k in RATES)


def test_take_is_cheap_enough_to_run_every_second():
    sampler = HostSampler()
    durations = []
    for _ in range(20):
        started = time.perf_counter()
        sampler.take()
        durations.append(time.perf_counter() - started)
    assert statistics.median(durations) < 0.02


def test_store_adds_a_raw_row_keeping_the_whole_sample(db_session, taken):
    row = host_sampler.store(db_session, taken)
    db_session.commit()
    db_session.expire_all()
    stored = db_session.get(HostSample, row.id)
    assert (stored.host, stored.pid, stored.resolution) == (taken["host"], taken["pid"], "raw")
    assert stored.taken_at == datetime.fromisoformat(taken["ts"])
    assert (stored.cpu_percent, stored.memory_percent, stored.disk_percent) == (
        taken["cpu"]["percent"], taken["memory"]["percent"], taken["disk"]["percent"])
    assert stored.data == taken


def test_minute_rollup_averages_each_complete_minute_per_process(db_session):
    for each in [sample(at(5), cpu=10, memory=40, rss=1000), sample(at(35), cpu=30, memory=60, rss=3000),
                 sample(at(70), cpu=50), sample(at(20), cpu=70, pid=200), sample(at(119), cpu=90, host="web-2"),
                 sample(at(150), cpu=99)]:  # the last is in the minute still running at `now`
        host_sampler.store(db_session, each)
    assert host_sampler.roll_up(db_session, "1m", now=at(160)) == 4
    summary = [(r.host, r.pid, r.taken_at, r.cpu_percent, r.memory_percent, r.disk_percent, r.data["cpu_max"],
                r.data["samples"]) for r in rows_of(db_session, "1m")]
    assert summary == [
        ("web-1", 100, at(0), 20.0, 50.0, 50.0, 30, 2),
        ("web-1", 100, at(60), 50.0, 40.0, 50.0, 50, 1),
        ("web-1", 200, at(0), 70.0, 40.0, 50.0, 70, 1),
        ("web-2", 100, at(60), 90.0, 40.0, 50.0, 90, 1),
    ]
    first = rows_of(db_session, "1m")[0].data
    assert (first["process_rss"], first["load_1"], first["disk_read_bytes_per_s"]) == (2000.0, 1.0, 100.0)


def test_a_later_rollup_adds_only_the_minutes_completed_since(db_session):
    for second in (5, 70, 150):
        host_sampler.store(db_session, sample(at(second)))
    host_sampler.roll_up(db_session, "1m", now=at(160))
    assert host_sampler.roll_up(db_session, "1m", now=at(185)) == 1
    assert [row.taken_at for row in rows_of(db_session, "1m")] == [at(0), at(60), at(120)]


def test_hour_rollup_weighs_each_minute_by_its_sample_count(db_session):
    add_row(db_session, "1m", at(0), cpu=10, memory=20,
            data={"samples": 60, "cpu_max": 40, "process_rss": 100})
    add_row(db_session, "1m", at(59 * 60), cpu=40, memory=50,
            data={"samples": 30, "cpu_max": 90, "process_rss": 400})
    add_row(db_session, "1m", at(60 * 60), cpu=99, data={"samples": 60, "cpu_max": 99})  # the hour still running
    assert host_sampler.roll_up(db_session, "1h", now=at(90 * 60)) == 1
    [hour] = rows_of(db_session, "1h")
    assert (hour.taken_at, hour.cpu_percent, hour.memory_percent) == (at(0), 20.0, 30.0)
    # Fields no minute carried stay None rather than pretending to be 0.
    expected = dict.fromkeys(host_sampler.KEY_FIELDS) | {"process_rss": 200.0, "cpu_max": 90, "samples": 90}
    assert hour.data == expected


@pytest.mark.parametrize("resolution, periods", [("1m", 26), ("1h", 3)])
def test_rolling_up_twice_adds_nothing(db_session, resolution, periods):
    for minute in range(0, 180, 7):
        host_sampler.store(db_session, sample(at(minute * 60)))
    if resolution == "1h":
        host_sampler.roll_up(db_session, "1m", now=at(3 * 3600))
    assert host_sampler.roll_up(db_session, resolution, now=at(3 * 3600)) == periods
    assert host_sampler.roll_up(db_session, resolution, now=at(3 * 3600)) == 0
    assert len(rows_of(db_session, resolution)) == periods


@pytest.mark.parametrize("resolution", ["raw", "5m"])
def test_rolling_up_to_an_unknown_resolution_is_refused(db_session, resolution):
    with pytest.raises(ValueError, match="resolution"):
        host_sampler.roll_up(db_session, resolution, now=T0)


def test_purge_deletes_only_rows_past_their_resolutions_retention(db_session):
    now = at(40 * 86400)
    ages = {"raw": [3601, 3600, 10], "1m": [86401, 86399, 7200], "1h": [31 * 86400, 29 * 86400]}
    for resolution, seconds_ago in ages.items():
        for age in seconds_ago:
            add_row(db_session, resolution, now - timedelta(seconds=age))
    deleted = host_sampler.purge(db_session, now, raw_seconds=3600, minute_days=1, hour_days=30)
    assert deleted == {"raw": 1, "1m": 1, "1h": 1}
    remaining = {resolution: sorted(age_of(row, now) for row in rows_of(db_session, resolution))
                 for resolution in ages}
    assert remaining == {"raw": [10, 3600], "1m": [7200, 86399], "1h": [29 * 86400]}


@pytest.mark.parametrize("host, expected", [
    (None, [("web-2", 30, 30.0), ("web-1", 40, 40.0), ("web-1", 50, 50.0)]),
    ("web-1", [("web-1", 40, 40.0), ("web-1", 50, 50.0)]),
    ("web-3", []),
])
def test_recent_gives_chart_points_since_a_time_oldest_first(db_session, host, expected):
    for second, name in [(50, "web-1"), (10, "web-1"), (30, "web-2"), (40, "web-1")]:
        host_sampler.store(db_session, sample(at(second), cpu=float(second), host=name))
    add_row(db_session, "1m", at(60), cpu=1.0)
    points = host_sampler.recent(db_session, since=at(30), host=host)
    assert [(point["host"], datetime.fromisoformat(point["ts"]).second, point["cpu_percent"])
            for point in points] == expected
    assert all(point.keys() == {"ts", "host", "pid", "cpu_percent", "memory_percent", "disk_percent"}
               for point in points)


def test_recent_reads_the_resolution_asked_for(db_session):
    host_sampler.store(db_session, sample(at(5)))
    add_row(db_session, "1h", at(0), cpu=12.5, memory=30.0)
    assert host_sampler.recent(db_session, since=at(0), resolution="1h") == [
        {"ts": at(0).isoformat(), "host": "web-1", "pid": 100, "cpu_percent": 12.5, "memory_percent": 30.0,
         "disk_percent": 0.0}]
    with pytest.raises(ValueError, match="resolution"):
        host_sampler.recent(db_session, since=at(0), resolution="5m")


def test_latest_gives_the_newest_raw_sample_of_each_process(db_session):
    newest = [sample(at(10), cpu=2.0), sample(at(5), pid=200)]
    for each in [sample(at(0), cpu=1.0), *newest]:
        host_sampler.store(db_session, each)
    add_row(db_session, "1m", at(60))  # rollups are not samples
    assert host_sampler.latest(db_session) == newest
    assert host_sampler.latest(db_session, since=at(6)) == newest[:1]
