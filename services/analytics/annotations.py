"""Annotations: marks other systems post on the time charts (a deploy at a moment, an incident over a span).

Read from a request body by `read_fields` (a FieldError naming the field), stored by `create`, listed by `between`.
Callers commit, then publish `as_dict` on the `annotation` channel.
"""
import json
from datetime import UTC, datetime

from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.orm import Session

from database import Annotation
from services.alerts.body_fields import FieldError

MAX_TEXT = 2000
MAX_TAGS = 16
MAX_TAG = 100
# The range the query readers accept (blueprints/http.py; a test keeps the two equal), so every stored mark
# can be asked for.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
FIELDS = ("text", "tags", "time", "time_end")


def read_fields(payload: dict, now: datetime) -> dict:
    """The annotation a body describes: text, tags (order kept, repeats dropped), time (default `now`), time_end."""
    if unknown := sorted(set(payload) - set(FIELDS)):
        raise FieldError(unknown[0], f"{unknown[0]} is not a field of an annotation (fields: {', '.join(FIELDS)})")
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise FieldError("text", f"text must be 1 to {MAX_TEXT:,} characters, not blank")
    time = read_time("time", payload.get("time"), now)
    time_end = read_time("time_end", payload.get("time_end"), None)
    if time_end is not None and time_end <= time:
        raise FieldError("time_end", "time_end must be after time")
    return {"text": text.strip(), "tags": read_tags(payload.get("tags")), "time": time, "time_end": time_end}


def read_tags(value) -> list[str]:
    if value is None:
        return []
    if (not isinstance(value, list) or len(value) > MAX_TAGS
            or not all(isinstance(tag, str) and tag.strip() and len(tag) <= MAX_TAG for tag in value)):
        raise FieldError("tags", f"tags must be at most {MAX_TAGS} strings of 1 to {MAX_TAG} characters, not blank")
    return list(dict.fromkeys(tag.strip() for tag in value))


def read_time(name: str, value, default: datetime | None) -> datetime | None:
    if value is None:
        return default
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        # A zone is required: a deploy marked at the sender's local time must not land hours off.
        moment = moment.astimezone(UTC) if moment is not None and moment.tzinfo is not None else None
    except (ValueError, OverflowError):  # a zone can carry 0001-01-01 out of the calendar
        moment = None
    if moment is None:
        raise FieldError(name, f"{name} must be an ISO-8601 time with a zone, such as 2026-01-31T12:00:00Z")
    if not EARLIEST <= moment <= LATEST:
        raise FieldError(name, f"{name} must be from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}")
    return moment


def create(session: Session, fields: dict, created_by: str | None) -> Annotation:
    annotation = Annotation(**fields, created_by=created_by)
    session.add(annotation)
    session.flush()
    return annotation


def between(session: Session, start: datetime, end: datetime, tag: str | None = None, limit: int = 100) -> list[Annotation]:
    """Annotations that touch [start, end] (a span that began before `start` included), newest first."""
    touches = and_(Annotation.time <= end,
                   or_(Annotation.time >= start, and_(Annotation.time_end.is_not(None), Annotation.time_end >= start)))
    query = select(Annotation).where(touches)
    if tag is not None:
        query = query.where(cast(Annotation.tags, String).like(f"%{like_escaped(json.dumps(tag))}%", escape="\\"))
    return list(session.scalars(query.order_by(Annotation.time.desc(), Annotation.id.desc()).limit(limit)))


def like_escaped(text: str) -> str:
    # The tag as its JSON string, quotes included, matches one whole element of the stored array, never part of one.
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def as_dict(annotation: Annotation) -> dict:
    return {"id": annotation.id, "text": annotation.text, "tags": list(annotation.tags or []),
            "time": annotation.time.isoformat(),
            "time_end": annotation.time_end.isoformat() if annotation.time_end else None,
            "created_by": annotation.created_by, "created_at": annotation.created_at.isoformat()}


def body_schema() -> dict:
    """The POST body for the OpenAPI document, from the limits above."""
    time = {"type": "string", "format": "date-time", "pattern": r"^(19[7-9][0-9]|20[0-9][0-9])-.*(Z|[+-]\d\d:\d\d)$",
            "description": f"ISO-8601 with a zone, from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}"}
    return {"type": "object", "required": ["text"], "additionalProperties": False, "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "pattern": r"^[^\x00]*\S[^\x00]*$"},
        "tags": {"type": "array", "maxItems": MAX_TAGS,
                 "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG, "pattern": r"^[^\x00]*\S[^\x00]*$"}},
        "time": time | {"description": time["description"] + "; absent means now"},
        "time_end": time | {"description": "the end of a span, after time"}}}


def schema() -> dict:
    """An annotation as `as_dict` answers it."""
    moment = {"type": "string", "format": "date-time"}
    return {"type": "object", "required": ["id", "text", "tags", "time", "time_end", "created_by", "created_at"],
            "properties": {"id": {"type": "integer"}, "text": {"type": "string"},
                           "tags": {"type": "array", "items": {"type": "string"}}, "time": moment,
                           "time_end": {"type": ["string", "null"], "format": "date-time"},
                           "created_by": {"type": ["string", "null"]}, "created_at": moment}}
