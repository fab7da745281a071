"""Webhook receivers (SPEC §9): a body validated field by field, saved, listed and shown. Callers commit.

The fields are read as a rule's are (services.alerts.body_fields), so a receiver's 422 reads like a rule's, and
each limit is stated once, in FIELDS, for both the check and the OpenAPI schema (body_schema).
"""
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from database import Delivery, Receiver
from services.alerts.alerts import stamp
from services.alerts.body_fields import Choice, FieldError, Flag, Form, Number, Text
from services.alerts.rules import SEVERITIES

FORMATS = ("alertmanager", "slack")
DELIVERY_STATUSES = ("pending", "delivered", "dead")
NO_DELIVERIES = dict.fromkeys(DELIVERY_STATUSES, 0)
MAX_URL = 2000
WEEK = 7 * 86400
REQUIRED = ("name", "url")
NULLABLE = ("repeat_interval_seconds",)
DEFAULTS = {"format": "alertmanager", "send_resolved": True, "min_severity": "info", "repeat_interval_seconds": None}
# What the schema promises of a URL; `Url.read` also wants a host and a valid port, which a pattern cannot say.
URL_PATTERN = re.compile(r"^[hH][tT][tT][pP][sS]?://[^\s/?#]+[^\s]*$")


class DuplicateName(FieldError):
    """Another receiver has this name already (409)."""

    def __init__(self, name: str) -> None:
        super().__init__("name", f"a receiver named {name!r} exists already")


@dataclass(frozen=True)
class Url:
    """An http(s) URL with a host, as requests will send to it."""

    def read(self, name: str, value):
        if not isinstance(value, str) or len(value) > MAX_URL or not URL_PATTERN.fullmatch(value) or not reachable(value):
            raise FieldError(name, f"{name} must be an http:// or https:// URL with a host, at most {MAX_URL} characters")
        return value

    def schema(self) -> dict:
        return {"type": "string", "maxLength": MAX_URL, "pattern": URL_PATTERN.pattern, "format": "uri"}


def reachable(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port out of range)
    except ValueError:
        return False
    return bool(parts.hostname)


FIELDS = {
    "name": Text(120),
    "url": Url(),
    "format": Choice(FORMATS),
    "send_resolved": Flag(),
    "min_severity": Choice(SEVERITIES),
    "repeat_interval_seconds": Number(60, WEEK, integer=True),
}


FORM = Form("receiver", FIELDS, REQUIRED, NULLABLE, DEFAULTS)


def read_fields(body: dict, partial: bool) -> dict:
    """Each field checked alone, else a FieldError naming it; a whole receiver (`partial=False`) takes DEFAULTS."""
    return FORM.read(body, partial)


def create(session: Session, fields: dict, created_by: str) -> Receiver:
    """Save a receiver from `read_fields(body, partial=False)`; DuplicateName when the name is taken."""
    check_name_free(session, fields["name"])
    receiver = Receiver(**fields, created_by=created_by)
    session.add(receiver)
    flush_unique(session, fields["name"])
    return receiver


def update(session: Session, receiver: Receiver, changes: dict) -> None:
    """Apply `read_fields(body, partial=True)`; an empty change is refused here, after the receiver was found."""
    if not changes:
        raise FORM.nothing_to_change()
    if changes.get("name", receiver.name) != receiver.name:
        check_name_free(session, changes["name"])
    for name, value in changes.items():
        setattr(receiver, name, value)
    flush_unique(session, receiver.name)


def check_name_free(session: Session, name: str) -> None:
    if session.scalar(select(Receiver.id).where(Receiver.name == name)) is not None:
        raise DuplicateName(name)


def flush_unique(session: Session, name: str) -> None:
    """Flush; the unique index settles a race that two requests both won the check above (the caller rolls back)."""
    try:
        session.flush()
    except IntegrityError:
        raise DuplicateName(name) from None


def list_receivers(session: Session) -> list[Receiver]:
    return list(session.scalars(select(Receiver).order_by(Receiver.id)))


def delivery_counts(session: Session, receiver_id: int | None = None) -> dict[int, dict[str, int]]:
    """Per receiver id (every one, or just `receiver_id`), its deliveries by status: what is queued, and the dead
    letters an admin may retry. A receiver without deliveries is absent: see NO_DELIVERIES."""
    query = select(Delivery.receiver_id, Delivery.status, func.count()).group_by(Delivery.receiver_id, Delivery.status)
    if receiver_id is not None:
        query = query.where(Delivery.receiver_id == receiver_id)
    counts: dict[int, dict[str, int]] = {}
    for found_id, status, count in session.execute(query):
        counts.setdefault(found_id, dict(NO_DELIVERIES))[status] = count
    return counts


def as_dict(receiver: Receiver, reveal_url: bool = True) -> dict:
    """The receiver; without `reveal_url`, its URL only to the host (for viewers: see redacted)."""
    body = {"id": receiver.id, **{name: getattr(receiver, name) for name in FIELDS}, "created_by": receiver.created_by,
            "created_at": stamp(receiver.created_at), "updated_at": stamp(receiver.updated_at)}
    return body if reveal_url else body | {"url": redacted(receiver.url)}


def redacted(url: str) -> str:
    """The URL up to its host: a webhook's path or query often is its secret (Slack's, for one)."""
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}/…"


def body_schema(partial: bool) -> dict:
    """The JSON Schema of a receiver body: a whole receiver to create, or any of its fields to change."""
    required = {"minProperties": 1} if partial else {"required": list(REQUIRED)}
    return {"type": "object", "properties": FORM.properties(), "additionalProperties": False, **required,
            "description": "name unique (409 when taken); url http or https with a host"}
