"""Demo traffic (DEMO=1): the simulated shop's events (shop.py) sent through the public ingest API (SPEC §6), never
the database.

Clock, sleep, randomness and HTTP session are parameters: tests run it instantly, the server under eventlet.
"""
import logging
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import requests

from services.demo.shop import (
    ACTIVITIES_PER_SECOND,
    BACKFILL_ACTIVITIES_PER_HOUR,
    BACKFILL_TRANSACTIONS_PER_HOUR,
    TRANSACTIONS_PER_SECOND,
    Shop,
)

log = logging.getLogger("pulseboard.demo")

KINDS = ("transactions", "activities", "metrics")
MAX_BATCH_ITEMS = 5000  # the ingest API answers 413 above this
MAX_INTERVAL = 60.0  # keeps one live batch far below MAX_BATCH_ITEMS
HOUR = timedelta(hours=1)

RETRY_FIRST, RETRY_MAX, RETRY_TRIES = 0.5, 10.0, 6
HEALTH_TRIES = 40  # about six minutes of growing delays
REQUEST_TIMEOUT = 10.0
LOG_EVERY_SECONDS = 60.0


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
        self.shop = Shop(self.rng)
        self._tally: Counter = Counter()
        self._tally_since: float | None = None

    def make_batch(self, now: datetime) -> dict:
        """One interval's events up to `now` (aware): settled and new transactions, activities, metrics."""
        start = now - timedelta(seconds=self.interval)
        return self.shop.events(start, now, TRANSACTIONS_PER_SECOND, ACTIVITIES_PER_SECOND, unit=1.0)

    def backfill(self, now: datetime, days: int = 7) -> int:
        """Send `days` of hourly history before `now` in requests of at most 5,000 items; returns items accepted."""
        first = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
        items = []
        for start in (first + hour * HOUR for hour in range(days * 24 + 1)):
            if start < now:
                events = self.shop.events(start, min(start + HOUR, now), BACKFILL_TRANSACTIONS_PER_HOUR,
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
