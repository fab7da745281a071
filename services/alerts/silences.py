"""Silences (SPEC §9): label matchers that mute the notifications of matching alert instances for a while.

Alertmanager's semantics throughout: a missing label is the empty string, regular expressions match the whole
value, a silence is pending before starts_at, active until ends_at and expired from then on. A silenced instance
still changes state; only its notifications stop. Each limit is stated once, here: `read_fields` enforces it and
`body_schema` renders it for the OpenAPI document. Callers commit.
"""
import operator
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from database import Alert, Silence
from services.alerts.alerts import stamp

STATUSES = ("pending", "active", "expired")
OPERATORS = {
    "=": operator.eq,
    "!=": operator.ne,
    "=~": lambda value, actual: pattern(value).fullmatch(actual) is not None,
    "!~": lambda value, actual: pattern(value).fullmatch(actual) is None,
}
REGEX_OPERATORS = ("=~", "!~")
LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MATCHER_KEYS = ("name", "op", "value")
MAX_MATCHERS = 20
MAX_LABEL_NAME = 100
MAX_VALUE = 500
MAX_COMMENT = 1000
MAX_DURATION = timedelta(days=366)  # a calendar year, leap years included
FIELDS = ("matchers", "starts_at", "ends_at", "comment")
REQUIRED = ("matchers", "ends_at", "comment")


class SilenceError(ValueError):
    """A silence body that cannot make a valid silence; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SilenceStateError(ValueError):
    """An action the silence's status does not allow (expiring an expired silence)."""


@lru_cache(maxsize=1024)
def pattern(value: str) -> re.Pattern:
    """A matcher's regular expression, compiled once: the evaluation loop tests it on every instance, every pass."""
    return re.compile(value)


def holds(matcher: dict, labels: dict) -> bool:
    return OPERATORS[matcher["op"]](matcher["value"], labels.get(matcher["name"], ""))


def matches(matchers: list[dict], labels: dict) -> bool:
    """Whether every matcher holds for these labels (a label they lack counts as the empty string)."""
    return all(holds(matcher, labels) for matcher in matchers)


def silenced(labels: dict, silences: list[Silence]) -> bool:
    """Whether any of these silences (`active()`'s) mutes an instance with these labels."""
    return any(matches(silence.matchers, labels) for silence in silences)


def read_fields(body: dict, now: datetime) -> dict:
    """A silence body checked field by field, then between fields, else SilenceError naming the field.

    A starts_at in the past is taken as now, as Alertmanager does: a silence cannot mute what was already sent.
    """
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise SilenceError(unknown[0], f"{unknown[0]} is not a silence field; fields: {', '.join(FIELDS)}")
    fields = {name: READERS[name](name, value) for name, value in body.items()}
    missing = [name for name in REQUIRED if name not in fields]
    if missing:
        raise SilenceError(missing[0], f"{missing[0]} is required")
    fields["starts_at"] = max(fields.get("starts_at", now), now)
    check_times(fields["starts_at"], fields["ends_at"], now)
    return fields


def check_times(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    if ends_at <= now:
        raise SilenceError("ends_at", "ends_at must be in the future")
    if ends_at <= starts_at:
        raise SilenceError("ends_at", "ends_at must be after starts_at")
    if ends_at - starts_at > MAX_DURATION:
        raise SilenceError("ends_at", f"ends_at must be at most {MAX_DURATION.days} days after starts_at")


def read_matchers(name: str, value) -> list[dict]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_MATCHERS:
        raise SilenceError(name, f"{name} must be a list of 1 to {MAX_MATCHERS} matchers")
    matchers = [read_matcher(index, item) for index, item in enumerate(value)]
    # Alertmanager's rule: matchers that all match the empty string would mute every alert lacking those labels,
    # which is every alert when they are all negative or catch-all.
    if all(holds(matcher, {}) for matcher in matchers):
        raise SilenceError(name, f"at least one of the {name} must not match the empty string")
    return matchers


def read_matcher(index: int, item) -> dict:
    where = f"matchers[{index}]"
    if not isinstance(item, dict) or set(item) != set(MATCHER_KEYS):
        raise SilenceError("matchers", f"{where} must be an object with exactly {', '.join(MATCHER_KEYS)}")
    name, op, value = (item[key] for key in MATCHER_KEYS)
    if not isinstance(name, str) or len(name) > MAX_LABEL_NAME or not LABEL_NAME.fullmatch(name):
        raise SilenceError("matchers", f"{where}.name must be a label name of at most {MAX_LABEL_NAME} characters: "
                                       "letters, digits and _, not a digit first")
    if not isinstance(op, str) or op not in OPERATORS:
        raise SilenceError("matchers", f"{where}.op must be one of {', '.join(OPERATORS)}")
    if not isinstance(value, str) or len(value) > MAX_VALUE:
        raise SilenceError("matchers", f"{where}.value must be a string of at most {MAX_VALUE} characters")
    if op in REGEX_OPERATORS:
        try:
            pattern(value)
        except (re.error, OverflowError) as error:  # OverflowError: a repetition count beyond the engine's
            raise SilenceError("matchers", f"{where}.value is not a regular expression: {error}") from None
    return {"name": name, "op": op, "value": value}


def read_time(name: str, value) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        if moment is not None and moment.tzinfo is not None:  # a time without a zone is ambiguous: refused
            return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # a zone can carry 0001-01-01 or 9999-12-31 out of the calendar
        pass
    raise SilenceError(name, f"{name} must be an ISO 8601 time with a zone, such as 2026-01-31T12:00:00Z")


def read_comment(name: str, value) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_COMMENT:
        raise SilenceError(name, f"{name} must be 1 to {MAX_COMMENT} characters, not blank")
    return value


READERS = {"matchers": read_matchers, "starts_at": read_time, "ends_at": read_time, "comment": read_comment}


def create(session: Session, fields: dict, created_by: str) -> Silence:
    """Save a silence from `read_fields`."""
    silence = Silence(**fields, created_by=created_by)
    session.add(silence)
    session.flush()
    return silence


def status(silence: Silence, now: datetime) -> str:
    """Alertmanager's names: pending before starts_at, active until ends_at, expired from ends_at on."""
    if now < silence.starts_at:
        return "pending"
    return "expired" if now >= silence.ends_at else "active"


def expire(silence: Silence, now: datetime) -> None:
    """End the silence now; a pending one ends before it began, so it never mutes anything."""
    state = status(silence, now)
    if state == "expired":
        raise SilenceStateError(f"silence {silence.id} already expired at {stamp(silence.ends_at)}")
    if state == "pending":
        silence.starts_at = now
    silence.ends_at = now


def as_dict(silence: Silence, now: datetime) -> dict:
    return {"id": silence.id, "matchers": silence.matchers, "starts_at": stamp(silence.starts_at),
            "ends_at": stamp(silence.ends_at), "comment": silence.comment, "created_by": silence.created_by,
            "created_at": stamp(silence.created_at), "status": status(silence, now)}


def with_status(query, state: str, now: datetime):
    """The query narrowed to silences in `state` at `now`, as `status` tells them apart."""
    if state == "pending":
        return query.where(Silence.starts_at > now)
    if state == "active":
        return query.where(Silence.starts_at <= now, Silence.ends_at > now)
    return query.where(Silence.ends_at <= now)


def listing(session: Session, now: datetime, status: str | None = None, limit: int = 100) -> list[Silence]:
    """Silences newest first, optionally only those with this status."""
    query = select(Silence).order_by(Silence.created_at.desc(), Silence.id.desc()).limit(limit)
    return list(session.scalars(with_status(query, status, now) if status else query))


def active(session: Session, now: datetime) -> list[Silence]:
    """The silences muting now: what the evaluation loop reads once a pass and hands to `silenced`."""
    return list(session.scalars(with_status(select(Silence), "active", now)))


def apply(session: Session, now: datetime) -> list[Alert]:
    """Recompute the silenced flag of every unresolved instance; returns those whose flag changed."""
    muting = active(session, now)
    changed = []
    for alert in session.scalars(select(Alert).where(Alert.state != "resolved")):
        flag = silenced(alert.labels, muting)
        if flag != alert.silenced:
            alert.silenced = flag
            changed.append(alert)
    session.flush()
    return changed


def body_schema() -> dict:
    """The JSON Schema of a silence body, from the limits `read_fields` enforces."""
    time = {"type": "string", "format": "date-time"}
    matcher = {"type": "object", "required": list(MATCHER_KEYS), "additionalProperties": False, "properties": {
        "name": {"type": "string", "maxLength": MAX_LABEL_NAME, "pattern": f"^{LABEL_NAME.pattern}$"},
        "op": {"enum": list(OPERATORS)},
        "value": {"type": "string", "maxLength": MAX_VALUE}}}
    return {"type": "object", "required": list(REQUIRED), "additionalProperties": False, "properties": {
        "matchers": {"type": "array", "minItems": 1, "maxItems": MAX_MATCHERS, "items": matcher},
        "starts_at": time | {"description": "default and floor: now"},
        "ends_at": time,
        "comment": {"type": "string", "minLength": 1, "maxLength": MAX_COMMENT, "pattern": r"\S"}},
        "description": "rules checked by the API (422 naming the field): a regular expression (=~, !~) must compile and "
                       "matches the whole value; at least one matcher must not match the empty string; ends_at in the "
                       f"future, after starts_at and at most {MAX_DURATION.days} days after it"}
