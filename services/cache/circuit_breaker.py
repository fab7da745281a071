"""A circuit breaker for the database read path, and reads that fall back to stale cache while it is open."""
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from services.cache.cache_manager import CacheManager

T = TypeVar("T")
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitOpenError(RuntimeError):
    """Raised instead of calling through while the circuit is open."""

    def __init__(self, name: str, retry_in: float) -> None:
        super().__init__(f"circuit {name!r} is open; next trial in {retry_in:.1f} s")
        self.name = name
        self.retry_in = retry_in


class CircuitBreaker:
    """Closed → open after `failure_threshold` consecutive failures → half open after `reset_timeout`.

    Half open lets one trial call through: success closes the circuit, failure opens it again.
    Only exceptions of the `trip_on` types count as failures; others pass through uncounted.
    """

    def __init__(self, failure_threshold: int = 3, reset_timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, name: str = "database",
                 trip_on: tuple[type[BaseException], ...] = (Exception,)) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_timeout < 0:
            raise ValueError("reset_timeout must not be negative")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.name = name
        self.trip_on = trip_on
        self._clock = clock
        self._lock = threading.Lock()
        self._open = False
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_started_at: float | None = None

    @property
    def state(self) -> str:
        """The current state: closed, open or half_open."""
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if not self._open:
            return CLOSED
        # Half open is a matter of time, so it is derived rather than stored.
        return HALF_OPEN if self._clock() - self._opened_at >= self.reset_timeout else OPEN

    def _retry_in(self) -> float:
        return max(0.0, self._opened_at + self.reset_timeout - self._clock())

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call fn unless the circuit is open (then raise CircuitOpenError without calling it)."""
        trial = self._admit()
        try:
            result = fn(*args, **kwargs)
        except self.trip_on:
            self._record_failure(trial)
            raise
        except BaseException:
            self._end_trial(trial)
            raise
        self._record_success()
        return result

    def _admit(self) -> bool:
        """Let a call through, saying whether it is the half-open trial; raise while open."""
        with self._lock:
            state = self._state()
            if state == CLOSED:
                return False
            if state == HALF_OPEN and not self._trial_in_progress():
                self._trial_started_at = self._clock()
                return True
            raise CircuitOpenError(self.name, self._retry_in())

    def _trial_in_progress(self) -> bool:
        # A trial that hangs longer than reset_timeout gives way to another, so the circuit can still close.
        started = self._trial_started_at
        return started is not None and self._clock() - started < self.reset_timeout

    def _record_success(self) -> None:
        with self._lock:
            self._open = False
            self._failures = 0
            self._opened_at = self._trial_started_at = None

    def _record_failure(self, trial: bool) -> None:
        with self._lock:
            self._failures += 1
            if trial or (not self._open and self._failures >= self.failure_threshold):
                self._open = True
                self._opened_at = self._clock()
                self._trial_started_at = None

    def _end_trial(self, trial: bool) -> None:
        # An error that does not count proves nothing either way: the next call may try again.
        if trial:
            with self._lock:
                self._trial_started_at = None

    def status(self) -> dict:
        """name, state, consecutive failures, and seconds since opening and until the next trial."""
        with self._lock:
            state = self._state()
            closed = state == CLOSED
            return {"name": self.name, "state": state, "failures": self._failures,
                    "opened_at": None if closed else round(self._clock() - self._opened_at, 3),
                    "retry_in": None if closed else round(self._retry_in(), 3)}

def read_through(cache: CacheManager, breaker: CircuitBreaker, namespace: str, key: Hashable,
                 compute: Callable[[], T]) -> tuple[T, bool]:
    """(value, stale): cached or computed through the breaker, else the last good value marked stale.

    Re-raises CircuitOpenError or the tripping error when no value was ever cached (the API answers 503).
    """
    try:
        return cache.get_or_compute(namespace, key, lambda: breaker.call(compute)), False
    except (CircuitOpenError, *breaker.trip_on):
        found, value = cache.last_good(namespace, key)
        if not found:
            raise
        return value, True
