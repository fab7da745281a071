"""Demo traffic (DEMO=1): realistic events sent through the public ingest API (SPEC §6), never the database.

Clock, sleep, randomness and HTTP session are parameters: tests run it instantly, the server under eventlet.
"""
import logging
import math
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import requests

log = logging.getLogger("pulseboard.demo")

KINDS = ("transactions", "activities", "metrics")
MAX_BATCH_ITEMS = 5000  # the ingest API answers 413 above this
MAX_INTERVAL = 60.0  # keeps one live batch far below MAX_BATCH_ITEMS
HOUR = timedelta(hours=1)

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

RETRY_FIRST, RETRY_MAX, RETRY_TRIES = 0.5, 10.0, 6
HEALTH_TRIES = 40  # about six minutes of growing delays
REQUEST_TIMEOUT = 10.0
LOG_EVERY_SECONDS = 60.0


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


def item_count(payload: dict) -> int:
    return sum(len(payload.get(kind) or []) for kind in KINDS)


def batches(items: list[tuple[str, dict]]) -> list[dict]:
    """Group (kind, item) pairs into ingest payloads of at most MAX_BATCH_ITEMS items each."""
    chunks = (items[start:start + MAX_BATCH_ITEMS] for start in range(0, len(items), MAX_BATCH_ITEMS))
    return [{kind: [item for of, item in chunk if of == kind] for kind in KINDS} for chunk in chunks]


class DemoTraffic:
    """Makes plausible shop traffic and posts it to a Pulseboard server's ingest API."""

    def __init__(self, base_url: str, api_key: str, rng: random.Random | None = None, clock=time.time,
                 sleep=time.sleep, session: requests.Session | None = None, interval: float = 1.0,
                 backfill_days: int = 7) -> None:
        if not 0 < interval <= MAX_INTERVAL:
            raise ValueError(f"interval must be above 0 and at most {MAX_INTERVAL:g} seconds")
        self.base_url = base_url.rstrip("/")
        self.rng = rng or random.Random()
        self.clock, self.sleep = clock, sleep
        self.session = session or requests.Session()
        self._owns_session = session is None
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self.interval = interval
        self.backfill_days = backfill_days
        self.stopped = False
        self._stop = threading.Event()
        # Ids must not collide with an earlier run's, or they would update its transactions.
        self._prefix = f"demo-{self.rng.getrandbits(32):08x}"
        self._sequence = 0
        self._pending: list[tuple[datetime, dict]] = []
        self._sessions: dict[str, str] = {}  # session id -> user id, oldest first
        self._queue_depth = 10.0
        self._tally: Counter = Counter()
        self._tally_since: float | None = None

    def make_batch(self, now: datetime) -> dict:
        """One interval's events up to `now` (aware): settled and new transactions, activities, metrics."""
        start = now - timedelta(seconds=self.interval)
        return self._events(start, now, TRANSACTIONS_PER_SECOND, ACTIVITIES_PER_SECOND, unit=1.0)

    def backfill(self, now: datetime, days: int = 7) -> int:
        """Send `days` of hourly history before `now` in requests of at most 5,000 items; returns items accepted."""
        first = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
        items = []
        for start in (first + hour * HOUR for hour in range(days * 24 + 1)):
            if start < now:
                events = self._events(start, min(start + HOUR, now), BACKFILL_TRANSACTIONS_PER_HOUR,
                                      BACKFILL_ACTIVITIES_PER_HOUR, unit=HOUR.total_seconds())
                items += [(kind, item) for kind in KINDS for item in events[kind]]
        accepted = 0
        for payload in batches(items):
            if self._halted():
                break
            answer = self.send(payload)
            accepted += answer.get("accepted", 0) if answer else 0
        log.info("demo traffic: backfilled %d days, %d items accepted", days, accepted)
        return accepted

    def send(self, payload: dict) -> dict | None:
        """POST one batch, retrying outages and 429 with growing delays; None when it gives up or the key is revoked."""
        response = self._retrying(lambda: self._post(payload), RETRY_TRIES)
        if response is not None:
            return self._answer(response, payload)
        if not self._halted():
            log.warning("demo traffic: dropped a batch of %d items after %d tries", item_count(payload), RETRY_TRIES)
        return None

    def wait_for_server(self) -> bool:
        """Poll /healthz with growing delays until it answers 200; False if it never does or we are stopped."""
        ready = bool(self._retrying(self._healthy, HEALTH_TRIES))
        if not ready and not self._halted():
            log.warning("demo traffic: %s/healthz did not answer; sending nothing", self.base_url)
        return ready

    def run(self, stop: threading.Event | None = None, max_batches: int | None = None) -> int:
        """Wait for the server, backfill once, then send a batch every interval until stopped; returns live batches."""
        self._stop = stop or self._stop
        sent = 0
        try:
            if not self.wait_for_server():
                return 0
            if self.backfill_days:
                self.backfill(self._now(), self.backfill_days)
            while not self._halted() and (max_batches is None or sent < max_batches):
                started = self.clock()
                self.send(self.make_batch(self._now()))
                sent += 1
                self.sleep(max(0.0, self.interval - (self.clock() - started)))
        finally:
            if self._owns_session:
                self.session.close()
        return sent

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _halted(self) -> bool:
        return self.stopped or self._stop.is_set()

    def _backoff(self, attempt: int) -> float:
        base = min(RETRY_FIRST * 2 ** (attempt - 1), RETRY_MAX)
        return min(RETRY_MAX, base * self.rng.uniform(0.8, 1.2))  # jitter, so restarted senders spread out

    def _retrying(self, attempt_once, tries: int):
        """attempt_once() until it returns something other than None, sleeping longer each time."""
        for attempt in range(tries):
            if attempt:
                self.sleep(self._backoff(attempt))
            if self._halted():
                return None
            result = attempt_once()
            if result is not None:
                return result
        return None

    def _healthy(self) -> bool | None:
        try:
            return self.session.get(f"{self.base_url}/healthz", timeout=REQUEST_TIMEOUT).status_code == 200 or None
        except requests.RequestException:
            return None  # not listening yet

    def _post(self, payload: dict) -> requests.Response | None:
        """The response, or None when worth retrying: no connection, 429 or 5xx."""
        try:
            response = self.session.post(f"{self.base_url}/api/v1/events", json=payload, headers=self._headers,
                                         timeout=REQUEST_TIMEOUT)
        except requests.RequestException as error:
            log.debug("demo traffic: %s", error)
            return None
        return None if response.status_code == 429 or response.status_code >= 500 else response

    def _answer(self, response: requests.Response, payload: dict) -> dict | None:
        if response.status_code == 401:
            if not self.stopped:
                log.warning("demo traffic: the API key was refused (revoked?); stopping")
            self.stopped = True
            return None
        try:
            answer = response.json() if response.status_code == 202 else None
        except ValueError:  # not our server answering; the loop must go on
            answer = None
        if answer is None:  # 4xx other than 401: a bug in this module, which retrying cannot fix
            log.warning("demo traffic: batch refused with %s: %s", response.status_code, response.text[:200])
        self._count(item_count(payload), answer or {})
        return answer

    def _count(self, items: int, answer: dict) -> None:
        self._tally.update(sent=items, accepted=answer.get("accepted", 0), rejected=answer.get("rejected", 0))
        now = self.clock()
        if self._tally_since is None:
            self._tally_since = now
        elif now - self._tally_since >= LOG_EVERY_SECONDS:
            log.info("demo traffic: %d items sent, %d accepted, %d rejected in the last minute",
                     self._tally["sent"], self._tally["accepted"], self._tally["rejected"])
            self._tally, self._tally_since = Counter(), now

    def _moments(self, start: datetime, end: datetime, mean: float) -> list[datetime]:
        return sorted(start + (end - start) * self.rng.random() for _ in range(poisson(self.rng, mean)))

    def _events(self, start: datetime, end: datetime, transactions: tuple, activities: tuple, unit: float) -> dict:
        """Events in [start, end); rates are (trough, peak) per `unit` seconds."""
        units = (end - start).total_seconds() / unit
        settled = self._settle(end)  # first, so a transaction is never settled in its own batch
        return {"transactions": settled + [self._transaction(moment) for moment in
                                           self._moments(start, end, rate(transactions, start) * units)],
                "activities": [self._activity(moment) for moment in
                               self._moments(start, end, rate(activities, start) * units)],
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
