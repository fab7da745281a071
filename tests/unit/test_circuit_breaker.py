import threading

import pytest

from services.cache.cache_manager import CacheManager, NamespaceConfig
from services.cache.circuit_breaker import CircuitBreaker, CircuitOpenError, read_through
from tests.fakes import FakeClock


class Database:
    """A stand-in for the read path that can be taken down and brought back."""

    def __init__(self) -> None:
        self.up = True
        self.calls = 0
        self.answer = "fresh"

    def read(self):
        self.calls += 1
        if not self.up:
            raise ConnectionError("database unreachable")
        return self.answer


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def db():
    return Database()


@pytest.fixture
def breaker(clock):
    return CircuitBreaker(failure_threshold=3, reset_timeout=5.0, clock=clock, trip_on=(ConnectionError,))


def fail(breaker, db, times):
    db.up = False
    for _ in range(times):
        with pytest.raises(ConnectionError):
            breaker.call(db.read)


@pytest.mark.parametrize("threshold", [1, 3, 5])
def test_opens_after_threshold_consecutive_failures(clock, db, threshold):
    breaker = CircuitBreaker(failure_threshold=threshold, clock=clock)
    fail(breaker, db, threshold - 1)
    assert breaker.state == "closed"
    fail(breaker, db, 1)
    assert breaker.state == "open"


def test_a_success_resets_the_consecutive_failures(breaker, db):
    fail(breaker, db, 2)
    db.up = True
    assert breaker.call(db.read) == "fresh"
    fail(breaker, db, 2)
    assert breaker.state == "closed"
    assert breaker.status()["failures"] == 2


def test_errors_outside_trip_on_pass_through_uncounted(breaker):
    def broken():
        raise ValueError("a bug, not an outage")

    for _ in range(5):
        with pytest.raises(ValueError):
            breaker.call(broken)
    assert breaker.status()["failures"] == 0
    assert breaker.state == "closed"


def test_while_open_calls_fail_fast_without_reaching_the_database(breaker, db, clock):
    fail(breaker, db, 3)
    db.up = True
    calls = db.calls
    clock.advance(2)
    with pytest.raises(CircuitOpenError) as caught:
        breaker.call(db.read)
    assert db.calls == calls
    assert caught.value.retry_in == pytest.approx(3)


def test_half_opens_after_the_reset_timeout(breaker, db, clock):
    fail(breaker, db, 3)
    clock.advance(4.99)
    assert breaker.state == "open"
    clock.advance(0.01)
    assert breaker.state == "half_open"


def test_a_successful_trial_closes_the_circuit(breaker, db, clock):
    fail(breaker, db, 3)
    clock.advance(5)
    db.up = True
    assert breaker.call(db.read) == "fresh"
    assert breaker.status() == {"name": "database", "state": "closed", "failures": 0,
                                "opened_at": None, "retry_in": None}


def test_a_failed_trial_opens_the_circuit_again(breaker, db, clock):
    fail(breaker, db, 3)
    clock.advance(5)
    fail(breaker, db, 1)
    assert breaker.state == "open"
    assert breaker.status()["retry_in"] == 5


def test_only_one_trial_runs_at_a_time(breaker, db, clock):
    fail(breaker, db, 3)
    clock.advance(5)
    db.up = True

    def trial():
        with pytest.raises(CircuitOpenError):
            breaker.call(db.read)  # a second caller while the trial is running
        return "trial done"

    assert breaker.call(trial) == "trial done"
    assert breaker.state == "closed"


def test_a_trial_that_never_ends_gives_way_to_another(breaker, db, clock):
    fail(breaker, db, 3)
    clock.advance(5)
    db.up = True

    def hung_trial():
        clock.advance(5)
        return breaker.call(db.read)  # reset_timeout later, another trial is let through

    assert breaker.call(hung_trial) == "fresh"
    assert breaker.state == "closed"


def test_status_while_open(breaker, db, clock):
    fail(breaker, db, 3)
    clock.advance(2)
    assert breaker.status() == {"name": "database", "state": "open", "failures": 3,
                                "opened_at": 2, "retry_in": 3}


@pytest.mark.parametrize("threshold, timeout", [(0, 5), (3, -1)])
def test_refuses_nonsense_settings(threshold, timeout):
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=threshold, reset_timeout=timeout)


def test_failures_from_many_threads_are_all_counted(clock):
    breaker = CircuitBreaker(failure_threshold=10_000, clock=clock)
    down = Database()
    down.up = False

    def fail_ten_times():
        for _ in range(10):
            with pytest.raises(ConnectionError):
                breaker.call(down.read)

    threads = [threading.Thread(target=fail_ten_times) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.status()["failures"] == 200


@pytest.fixture
def cache(clock):
    return CacheManager({"revenue": NamespaceConfig(ttl=10)}, clock=clock)


def test_read_through_answers_fresh_values_while_the_database_is_up(cache, breaker, db):
    assert read_through(cache, breaker, "revenue", "daily", db.read) == ("fresh", False)
    assert read_through(cache, breaker, "revenue", "daily", db.read) == ("fresh", False)
    assert db.calls == 1


def test_read_through_answers_the_last_good_value_as_stale_while_open(cache, breaker, db, clock):
    read_through(cache, breaker, "revenue", "daily", db.read)
    clock.advance(10)
    fail(breaker, db, 3)
    calls = db.calls
    assert read_through(cache, breaker, "revenue", "daily", db.read) == ("fresh", True)
    assert db.calls == calls


def test_read_through_answers_stale_on_a_tripping_error_before_the_circuit_opens(cache, breaker, db, clock):
    read_through(cache, breaker, "revenue", "daily", db.read)
    clock.advance(10)
    db.up = False
    assert read_through(cache, breaker, "revenue", "daily", db.read) == ("fresh", True)
    assert breaker.state == "closed"


@pytest.mark.parametrize("open_circuit, error", [(True, CircuitOpenError), (False, ConnectionError)])
def test_read_through_raises_when_nothing_was_ever_cached(cache, breaker, db, open_circuit, error):
    if open_circuit:
        fail(breaker, db, 3)
    db.up = False
    with pytest.raises(error):
        read_through(cache, breaker, "revenue", "daily", db.read)


def test_read_through_does_not_hide_bugs_behind_stale_values(cache, breaker, db, clock):
    read_through(cache, breaker, "revenue", "daily", db.read)
    clock.advance(10)

    def buggy():
        raise TypeError("not an outage")

    with pytest.raises(TypeError):
        read_through(cache, breaker, "revenue", "daily", buggy)


def test_read_through_recovers_by_itself_after_the_reset_timeout(cache, breaker, db, clock):
    read_through(cache, breaker, "revenue", "daily", db.read)
    clock.advance(10)
    fail(breaker, db, 3)
    clock.advance(5)
    db.up, db.answer = True, "newer"
    assert read_through(cache, breaker, "revenue", "daily", db.read) == ("newer", False)
    assert breaker.state == "closed"
