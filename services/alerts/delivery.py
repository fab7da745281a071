"""Webhook deliveries (SPEC §9): queued as rows by the evaluation loop, sent by DeliveryWorker.

A delivery is a row from the moment it is queued, its body built then, so a restart loses none and a rule edited
before the call does not change what is said. Sending retries connection errors, timeouts, 5xx and 429 with
exponential backoff and full jitter; any other status is final; WEBHOOK_MAX_ATTEMPTS attempts make a dead letter,
which an admin may retry. Callers commit, but for the worker, which owns its sessions.
"""
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from database import Delivery, Receiver
from services.alerts import webhook_bodies
from services.alerts.alerts import stamp
from services.alerts.rules import SEVERITIES
from services.alerts.sample_alert import sample

KINDS = ("firing", "resolved", "reminder", "test")
HEADERS = {"User-Agent": "Pulseboard/1.0", "Content-Type": "application/json"}
ERROR_BODY_CHARS = 300  # of a refusing receiver's answer, kept in last_error
FINISHED = ("delivered", "dead")


class DeliveryStateError(ValueError):
    """An action the delivery's status does not allow (409)."""


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def queue(receiver: Receiver, alerts: list[dict], status: str, now: datetime, settings, kind: str) -> Delivery:
    body = webhook_bodies.build(receiver.format, receiver.name, alerts, status,
                                webhook_bodies.external_url(settings), kind)
    return Delivery(receiver_id=receiver.id, alert_id=alerts[0]["id"] if len(alerts) == 1 else None, kind=kind,
                    payload=body, status="pending", attempts=0, next_attempt_at=now, created_at=now)


def enqueue(session: Session, alerts: list[dict], status: str, now: datetime, *, settings,
            kind: str | None = None) -> list[Delivery]:
    """Queue one delivery per receiver that wants to hear that `alerts` (one rule's instance bodies, changed to
    `status`, firing|resolved, in one evaluation) did so: severity at least its min_severity, and for resolved,
    send_resolved. `settings` give the links' base (EXTERNAL_URL, HOST, PORT)."""
    if not alerts:
        return []
    severity = max(severity_rank(alert["severity"]) for alert in alerts)
    rows = [queue(receiver, alerts, status, now, settings, kind or status)
            for receiver in session.scalars(select(Receiver).order_by(Receiver.id))
            if severity_rank(receiver.min_severity) <= severity and (status == "firing" or receiver.send_resolved)]
    session.add_all(rows)
    session.flush()
    return rows


def reminding_receivers(session: Session) -> list[Receiver]:
    """The receivers that want reminders (a repeat_interval_seconds); usually none, and then a pass builds no bodies."""
    return list(session.scalars(select(Receiver).where(Receiver.repeat_interval_seconds.is_not(None))))


def enqueue_reminders(session: Session, receivers: list[Receiver], firing: list[dict], now: datetime, *,
                      settings) -> list[Delivery]:
    """Queue a "reminder" (status firing) of each unsilenced instance in `firing` to each of `receivers`
    (reminding_receivers) that has heard nothing of it (firing or reminder) for its repeat interval since it fired."""
    alerts = [alert for alert in firing if alert["id"] is not None and not alert["silenced"]]
    if not receivers or not alerts:
        return []
    heard = last_heard(session, [alert["id"] for alert in alerts], [receiver.id for receiver in receivers])
    rows = [queue(receiver, [alert], "firing", now, settings, "reminder") for receiver in receivers for alert in alerts
            if severity_rank(receiver.min_severity) <= severity_rank(alert["severity"])
            and reminder_due(alert, heard.get((alert["id"], receiver.id)), receiver.repeat_interval_seconds, now)]
    session.add_all(rows)
    session.flush()
    return rows


def last_heard(session: Session, alert_ids: list[int], receiver_ids: list[int]) -> dict[tuple[int, int], datetime]:
    """(alert id, receiver id) -> when its latest firing or reminder delivery was queued (one indexed query)."""
    rows = session.execute(select(Delivery.alert_id, Delivery.receiver_id, func.max(Delivery.created_at))
                           .where(Delivery.alert_id.in_(alert_ids), Delivery.receiver_id.in_(receiver_ids),
                                  Delivery.kind.in_(("firing", "reminder")))
                           .group_by(Delivery.alert_id, Delivery.receiver_id))
    return {(alert_id, receiver_id): at for alert_id, receiver_id, at in rows}


def reminder_due(alert: dict, heard: datetime | None, interval: int, now: datetime) -> bool:
    # A firing delivery of several instances names none of them, and an instance keeps its row across episodes:
    # so the latest of "last heard" and "fired" is when this episode was last told.
    fired = alert["fired_at"] or alert["started_at"]
    told = [moment for moment in (heard, datetime.fromisoformat(fired) if fired else None) if moment is not None]
    return not told or max(told) <= now - timedelta(seconds=interval)


def retry(delivery: Delivery, now: datetime) -> None:
    """A dead letter goes back to the queue, due now, with its attempts counted afresh."""
    if delivery.status != "dead":
        raise DeliveryStateError(f"delivery {delivery.id} is {delivery.status}; only dead deliveries can be retried")
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, now


def purge(session: Session, before: datetime) -> int:
    """Delete finished (delivered or dead) deliveries queued before `before`; returns how many."""
    return session.execute(delete(Delivery).where(Delivery.status.in_(FINISHED), Delivery.created_at < before)).rowcount


def recent(session: Session, receiver_id: int, limit: int, status: str | None = None) -> list[Delivery]:
    """A receiver's deliveries, newest first."""
    query = select(Delivery).where(Delivery.receiver_id == receiver_id).order_by(Delivery.id.desc()).limit(limit)
    if status:
        query = query.where(Delivery.status == status)
    return list(session.scalars(query))


def as_dict(delivery: Delivery) -> dict:
    return {"id": delivery.id, "receiver_id": delivery.receiver_id, "alert_id": delivery.alert_id, "kind": delivery.kind,
            "status": delivery.status, "attempts": delivery.attempts, "next_attempt_at": stamp(delivery.next_attempt_at),
            "last_status_code": delivery.last_status_code, "last_error": delivery.last_error,
            "created_at": stamp(delivery.created_at), "delivered_at": stamp(delivery.delivered_at),
            "payload": delivery.payload}


@dataclass(frozen=True)
class Outcome:
    """What one call came to: a status code, or None when no answer came (then `error` says why)."""

    status_code: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        # Alertmanager's rule: 5xx may pass; other refusals (400, 401, 404, ...) will refuse again. 429 asks for later.
        return self.status_code is None or self.status_code >= 500 or self.status_code == 429


def call(url: str, body: dict, timeout: float) -> Outcome:
    """POST `body` as JSON to `url` once. Redirects are not followed: a receiver's URL is the one it answers at."""
    try:
        with requests.post(url, json=body, headers=HEADERS, timeout=timeout, allow_redirects=False,
                           stream=True) as response:
            if 200 <= response.status_code < 300:
                return Outcome(response.status_code)
            answer = response.raw.read(ERROR_BODY_CHARS, decode_content=True).decode("utf-8", "replace")
            if response.is_redirect:
                answer = f"redirects are not followed: use the URL it points at ({response.headers['Location']})"
            return Outcome(response.status_code, f"HTTP {response.status_code} {response.reason}: {answer}".strip())
    except requests.Timeout:
        return Outcome(None, f"no answer within {timeout:g} s")
    except (requests.RequestException, OSError, ValueError) as error:  # ValueError: a URL requests cannot encode
        return Outcome(None, f"{error.__class__.__name__}: {error}"[:1000])


def backoff(attempts: int, base: float, cap: float, rng=random.random) -> float:
    """Full jitter: anywhere from 0 to base·2^(attempts−1), at most `cap` seconds, so retries of many deliveries
    that failed together spread out instead of hitting the receiver again together."""
    return rng() * min(cap, base * 2 ** min(attempts - 1, 62))


def settle(outcome: Outcome, attempts: int, max_attempts: int, now: datetime, delay: float) -> dict:
    """The columns after an attempt: delivered, dead (final refusal or out of attempts), or pending again."""
    values = {"last_status_code": outcome.status_code, "last_error": outcome.error}
    if outcome.delivered:
        return values | {"status": "delivered", "delivered_at": now}
    if not outcome.retryable or attempts >= max_attempts:
        return values | {"status": "dead"}
    return values | {"status": "pending", "next_attempt_at": now + timedelta(seconds=delay)}


def send_test(session: Session, runtime, receiver: Receiver, now: datetime, settings) -> Delivery:
    """Send a realistic firing body (services.alerts.sample_alert) at once, one attempt, no retry; the outcome is
    stored as a "test" delivery."""
    alert = sample(session, runtime, now)
    body = webhook_bodies.build(receiver.format, receiver.name, [alert], "firing", webhook_bodies.external_url(settings),
                                "test")
    outcome = call(receiver.url, body, settings["WEBHOOK_TIMEOUT_SECONDS"])
    delivery = Delivery(receiver_id=receiver.id, alert_id=alert["id"], kind="test", payload=body, attempts=1,
                        next_attempt_at=now, created_at=now, **settle(outcome, 1, 1, now, 0))
    session.add(delivery)
    session.flush()
    return delivery
