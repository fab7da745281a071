"""The demo's simulated shop: plausible transactions, activity and custom metrics for any span of time, following a
daily rhythm. It sends nothing; services/demo/traffic.py posts what it makes."""
import math
import random
from datetime import UTC, datetime, timedelta

TROUGH_HOUR, PEAK_HOUR = 4.0, 15.0  # UTC
WEEKEND_FACTOR = 0.7
TRANSACTIONS_PER_SECOND = (2.0, 8.0)  # at the trough and at the peak
ACTIVITIES_PER_SECOND = (3.0, 12.0)
BACKFILL_TRANSACTIONS_PER_HOUR = (10.0, 50.0)  # sparse: history only has to give the charts a shape
BACKFILL_ACTIVITIES_PER_HOUR = (20.0, 100.0)

CURRENCIES = {"USD": 60, "EUR": 25, "GBP": 10, "JPY": 5}
UNITS_PER_DOLLAR = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 150.0}
WHOLE_UNIT_CURRENCIES = ("JPY",)
AMOUNT_MU, AMOUNT_SIGMA, AMOUNT_RANGE = 3.4, 0.9, (1.0, 5000.0)  # median ≈ $30 with a long tail
STATUSES = {"completed": 85, "pending": 7, "failed": 6, "refunded": 2}
SETTLED = {"completed": 80, "failed": 20}
SETTLE_AFTER_SECONDS = (5.0, 120.0)
PENDING_KEPT = 50  # beyond this the oldest stay pending for good, like abandoned checkouts
CHANNELS = {"web": 55, "ios": 25, "android": 20}
USER_POOL = 200

LOGIN_SHARE = 0.12
SESSIONS_KEPT = 100  # beyond this the oldest session expires silently
SESSION_ACTIONS = {"page_view": 70, "search": 14, "export": 4, "logout": 12}
PAGES = ("/", "/products", "/products/{n}", "/products/{n}", "/cart", "/checkout", "/account")
ACTION_DETAILS = {"search": ("/search", "query", ("shoes", "gift card", "laptop", "headphones", "desk lamp")),
                  "export": ("/reports/export", "format", ("csv", "xlsx")), "logout": ("/logout", None, ())}


def daily_rhythm(moment: datetime) -> float:
    """Traffic level in [0, 1]: 0 at the 04:00 UTC trough, 1 at the 15:00 peak, smooth in between."""
    hours = (moment.hour + moment.minute / 60 + moment.second / 3600 - TROUGH_HOUR) % 24
    rise = PEAK_HOUR - TROUGH_HOUR
    # Rising and falling take different times, so each half of the cosine is stretched on its own.
    phase = hours / rise / 2 if hours <= rise else 0.5 + (hours - rise) / (24 - rise) / 2
    return (1 - math.cos(2 * math.pi * phase)) / 2


def rate(bounds: tuple[float, float], moment: datetime) -> float:
    """Events per unit of time at `moment`, between bounds (trough, peak), lower at weekends."""
    low, high = bounds
    return (low + (high - low) * daily_rhythm(moment)) * (WEEKEND_FACTOR if moment.weekday() >= 5 else 1.0)


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (Knuth's method, fine for the means used here: well under 700)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def weighted(rng: random.Random, table: dict[str, int]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Shop:
    """The simulated business, with its state between batches: pending payments to settle, open sessions, queues."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        # Ids must not collide with an earlier run's, or they would update its transactions.
        self._prefix = f"demo-{self.rng.getrandbits(32):08x}"
        self._sequence = 0
        self._pending: list[tuple[datetime, dict]] = []
        self._sessions: dict[str, str] = {}  # session id -> user id, oldest first
        self._queue_depth = 10.0

    def moments(self, start: datetime, end: datetime, mean: float) -> list[datetime]:
        return sorted(start + (end - start) * self.rng.random() for _ in range(poisson(self.rng, mean)))

    def events(self, start: datetime, end: datetime, transactions: tuple, activities: tuple, unit: float) -> dict:
        """Events in [start, end); rates are (trough, peak) per `unit` seconds."""
        units = (end - start).total_seconds() / unit
        settled = self._settle(end)  # first, so a transaction is never settled in its own batch
        return {"transactions": settled + [self._transaction(moment) for moment in
                                           self.moments(start, end, rate(transactions, start) * units)],
                "activities": [self._activity(moment) for moment in
                               self.moments(start, end, rate(activities, start) * units)],
                "metrics": self._metrics(end, (end - start).total_seconds())}

    def _next_id(self, kind: str) -> str:
        self._sequence += 1
        return f"{self._prefix}-{kind}{self._sequence}"

    def _user(self) -> str:
        return f"user-{self.rng.randint(1, USER_POOL):03d}"

    def _transaction(self, moment: datetime) -> dict:
        currency = weighted(self.rng, CURRENCIES)
        item = {"id": self._next_id("t"), "amount": self._amount(currency), "currency": currency,
                "status": weighted(self.rng, STATUSES), "user_id": self._user(), "timestamp": iso(moment),
                "metadata": {"channel": weighted(self.rng, CHANNELS)}}
        if item["status"] == "pending":
            settle_at = moment + timedelta(seconds=self.rng.uniform(*SETTLE_AFTER_SECONDS))
            self._pending = [*self._pending, (settle_at, item)][-PENDING_KEPT:]
        return item

    def _amount(self, currency: str) -> str:
        dollars = min(max(self.rng.lognormvariate(AMOUNT_MU, AMOUNT_SIGMA), AMOUNT_RANGE[0]), AMOUNT_RANGE[1])
        value = dollars * UNITS_PER_DOLLAR[currency]
        return str(round(value)) if currency in WHOLE_UNIT_CURRENCIES else f"{value:.2f}"

    def _settle(self, until: datetime) -> list[dict]:
        """Re-send due pending transactions (same id) as completed or failed: an idempotent update."""
        due = [item for settle_at, item in self._pending if settle_at <= until]
        self._pending = [(settle_at, item) for settle_at, item in self._pending if settle_at > until]
        return [{**item, "status": weighted(self.rng, SETTLED)} for item in due]

    def _activity(self, moment: datetime) -> dict:
        if not self._sessions or self.rng.random() < LOGIN_SHARE:
            return self._login(moment)
        session_id = self.rng.choice(list(self._sessions))
        action = weighted(self.rng, SESSION_ACTIONS)
        user_id = self._sessions.pop(session_id) if action == "logout" else self._sessions[session_id]
        path, details = self._page(action)
        return {"user_id": user_id, "action": action, "path": path, "session_id": session_id,
                "timestamp": iso(moment), "metadata": details}

    def _login(self, moment: datetime) -> dict:
        session_id, user_id = self._next_id("s"), self._user()
        self._sessions[session_id] = user_id
        if len(self._sessions) > SESSIONS_KEPT:
            del self._sessions[next(iter(self._sessions))]
        return {"user_id": user_id, "action": "login", "path": "/login", "session_id": session_id,
                "timestamp": iso(moment), "metadata": {"channel": weighted(self.rng, CHANNELS)}}

    def _page(self, action: str) -> tuple[str, dict]:
        if action == "page_view":
            return self.rng.choice(PAGES).format(n=self.rng.randint(1, 500)), {}
        path, detail, choices = ACTION_DETAILS[action]
        return path, {detail: self.rng.choice(choices)} if detail else {}

    def _metrics(self, moment: datetime, seconds: float) -> list[dict]:
        level = daily_rhythm(moment)
        drift = math.sin(2 * math.pi * moment.timestamp() / (6 * 3600))  # a slow swing over six hours
        target = 5 + 40 * level  # queues follow the load but move slowly
        self._queue_depth = max(0.0, self._queue_depth + 0.2 * (target - self._queue_depth) + self.rng.gauss(0, 2))
        stamp = iso(moment)
        return [{"name": "checkout.latency_ms", "value": self._latency(base, level, drift), "timestamp": stamp,
                 "tags": {"region": region}} for region, base in (("eu", 110.0), ("us", 140.0))] + [
            {"name": "queue.depth", "value": round(self._queue_depth), "timestamp": stamp, "tags": {}},
            {"name": "signups", "value": poisson(self.rng, (0.05 + 0.25 * level) * seconds / 10), "timestamp": stamp,
             "tags": {}}]

    def _latency(self, base: float, level: float, drift: float) -> float:
        return round(max(5.0, base + 60 * level + 20 * drift + self.rng.gauss(0, 12)), 1)
