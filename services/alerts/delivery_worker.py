"""DeliveryWorker: sends the due deliveries (services.alerts.delivery) in the background, several calls at once.

Any number of processes may run one on the same database: a row is claimed by a conditional UPDATE before it is
sent, so no two send it. A claim leases the row: should the process die mid-call, the row is due again when the
lease ends (so a delivery is sent at least once, and once unless a process dies between the call and its record).
Started with the caller's `spawn` and `sleep` (Socket.IO's start_background_task and sleep), like JobRunner.
"""
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from database import Delivery, Receiver, utcnow
from services.alerts.delivery import Outcome, backoff, call, settle

log = logging.getLogger(__name__)

POLL_INTERVAL = 1.0
WAKE_CHECK = 0.05  # how often a pause looks for wake(): what a new delivery waits at most once woken
BATCH = 100  # due rows read per pass
CONCURRENCY = 8  # calls under way at once in this process
# Calls under way per receiver: its deliveries go out in order, and a slow receiver holds one slot, not all.
PER_RECEIVER = 1


@dataclass(frozen=True)
class Claim:
    """A delivery this worker claimed: what to send where, and which attempt this is."""

    id: int
    receiver_id: int
    url: str
    payload: dict
    attempts: int


class DeliveryWorker:
    """Polls about once a second (wake() cuts the wait) and outlives a database outage: a failed pass is logged
    and the next one retries."""

    def __init__(self, sessions, settings, spawn: Callable, sleep: Callable[[float], None], *,
                 clock: Callable[[], datetime] = utcnow, backoff_base: float = 1.0, backoff_cap: float = 300.0,
                 concurrency: int = CONCURRENCY, poll_interval: float = POLL_INTERVAL,
                 rng: Callable[[], float] = random.random) -> None:
        self.sessions, self.spawn, self.sleep, self.clock, self.rng = sessions, spawn, sleep, clock, rng
        self.timeout, self.max_attempts = settings["WEBHOOK_TIMEOUT_SECONDS"], settings["WEBHOOK_MAX_ATTEMPTS"]
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.concurrency, self.poll_interval = concurrency, poll_interval
        # Long enough for a call (requests' timeout bounds each wait, not the whole call) and its record.
        self.lease = timedelta(seconds=2 * self.timeout + 30)
        self.busy: dict[int, int] = {}  # receiver id -> calls under way
        self.lock = threading.Lock()
        self.stopped, self.woken = threading.Event(), threading.Event()

    def start(self) -> None:
        self.spawn(self.loop)

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll (a delivery was queued or retried)."""
        self.woken.set()

    def stop(self) -> None:
        """End the loop after its current pass; calls under way finish and are recorded."""
        self.stopped.set()

    def loop(self) -> None:
        while not self.stopped.is_set():
            self.run_once()
            self.pause()

    def run_once(self) -> None:
        self.woken.clear()  # before the pass: a wake() during it makes the pause after it end at once
        session = self.sessions()
        try:
            self.send_due(session, self.clock())
        except Exception as error:  # the loop must outlive a database outage; the next pass retries
            session.rollback()
            log.warning("webhook delivery pass failed: %s", error)
        finally:
            self.sessions.remove()

    def pause(self) -> None:
        waited = 0.0
        while waited < self.poll_interval and not self.woken.is_set() and not self.stopped.is_set():
            self.sleep(WAKE_CHECK)
            waited += WAKE_CHECK

    def send_due(self, session: Session, now: datetime) -> list[Claim]:
        """Claim due pending deliveries, as many as there are free slots, and start a call for each; returns them.

        Commits its claims (they must be visible before the calls start), so give it a session of its own.
        """
        with self.lock:
            free, busy = self.concurrency - sum(self.busy.values()), {r for r, n in self.busy.items() if n >= PER_RECEIVER}
        if free <= 0:
            return []
        rows = session.execute(
            select(Delivery.id, Delivery.receiver_id, Delivery.attempts, Delivery.payload, Receiver.url)
            .join(Receiver, Receiver.id == Delivery.receiver_id)
            .where(Delivery.status == "pending", Delivery.next_attempt_at <= now, Delivery.receiver_id.not_in(list(busy)))
            .order_by(Delivery.next_attempt_at, Delivery.id).limit(BATCH)).all()
        session.commit()  # end the read: on SQLite, a write in a transaction begun by a stale read fails at once
        claims: list[Claim] = []
        for row in rows:
            if len(claims) < free and row.receiver_id not in busy and self.claim(session, row.id, row.attempts, now):
                claims.append(Claim(row.id, row.receiver_id, row.url, row.payload, row.attempts + 1))
                busy.add(row.receiver_id)
        session.commit()
        for claim in claims:
            with self.lock:
                self.busy[claim.receiver_id] = self.busy.get(claim.receiver_id, 0) + 1
            self.spawn(self.deliver, claim)
        return claims

    def claim(self, session: Session, delivery_id: int, attempts: int, now: datetime) -> bool:
        """Take the row if it is still as read (pending, due, same attempt): of two takers, one changes it first."""
        taken = session.execute(
            update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "pending",
                                   Delivery.next_attempt_at <= now, Delivery.attempts == attempts)
            .values(attempts=attempts + 1, next_attempt_at=now + self.lease).execution_options(synchronize_session=False))
        return taken.rowcount == 1

    def deliver(self, claim: Claim) -> None:
        try:
            self.record(claim, self.attempt(claim))
        finally:
            with self.lock:
                self.busy[claim.receiver_id] -= 1
                if not self.busy[claim.receiver_id]:
                    del self.busy[claim.receiver_id]
            self.wake()  # the receiver's next delivery may go now

    def attempt(self, claim: Claim) -> Outcome:
        try:
            return call(claim.url, claim.payload, self.timeout)
        except Exception as error:  # whatever requests chokes on must still settle, or it is claimed forever
            log.exception("webhook delivery %s failed unexpectedly", claim.id)
            return Outcome(None, f"{error.__class__.__name__}: {error}"[:1000])

    def record(self, claim: Claim, outcome: Outcome) -> None:
        now = self.clock()
        delay = backoff(claim.attempts, self.backoff_base, self.backoff_cap, self.rng)
        session = self.sessions()
        try:
            # Only while the claim holds: a row whose lease ran out may have been claimed again meanwhile.
            session.execute(update(Delivery).where(Delivery.id == claim.id, Delivery.status == "pending",
                                                   Delivery.attempts == claim.attempts)
                            .values(**settle(outcome, claim.attempts, self.max_attempts, now, delay))
                            .execution_options(synchronize_session=False))
            session.commit()
        except Exception as error:  # the row stays leased, and is sent again when the lease ends
            session.rollback()
            log.warning("could not record delivery %s (%s): %s", claim.id, outcome, error)
        finally:
            self.sessions.remove()
