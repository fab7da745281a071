"""Test doubles for what cannot be controlled for real: time."""


class FakeClock:
    """A clock that moves only when a test says so; call it like time.time or time.monotonic."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
