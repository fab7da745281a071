"""Metric explorer views pinned to a user's dashboard: each user's own, in the order pinned. A view is the explorer's
URL query as a dict (name, agg, bucket, minutes, group_by, filters), kept as the page wrote it: the page reads it
back as it reads its own URL, so a pin opens exactly as the explorer showed it."""
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from database import ExplorerPin

MAX_PINS = 12
MAX_TITLE = 120
VIEW_FIELDS = {"name": 200, "agg": 8, "bucket": 8, "minutes": 8, "group_by": 64, "filters": 4000}


class PinError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class TooManyPins(Exception):
    pass


def read_fields(payload: dict) -> tuple[str, dict]:
    """(title, view) from a request body, or PinError naming the field."""
    title, view = payload.get("title"), payload.get("view")
    # A field of the wrong type is named before a missing one, as every body of the API does.
    if view is not None and not isinstance(view, dict):
        raise PinError("view", "view must be an object with a metric name")
    if not isinstance(title, str) or not title.strip() or len(title.strip()) > MAX_TITLE:
        raise PinError("title", f"title must be text of 1 to {MAX_TITLE} characters")
    if view is None or not isinstance(view.get("name"), str) or not view["name"]:
        raise PinError("view", "view must be an object with a metric name")
    for key, value in view.items():
        if key not in VIEW_FIELDS or not isinstance(value, str) or len(value) > VIEW_FIELDS[key] or "\x00" in value:
            raise PinError(f"view.{key}", f"view may hold only {', '.join(VIEW_FIELDS)}, as text within their limits")
    return title.strip(), view


def listing(session: Session, user_id: int) -> list[ExplorerPin]:
    return list(session.scalars(select(ExplorerPin).where(ExplorerPin.user_id == user_id)
                                .order_by(ExplorerPin.position, ExplorerPin.id)))


def create(session: Session, user_id: int, title: str, view: dict) -> ExplorerPin:
    """Pin after the user's last pin; TooManyPins beyond MAX_PINS."""
    count, last = session.execute(select(func.count(), func.max(ExplorerPin.position))
                                  .where(ExplorerPin.user_id == user_id)).one()
    if count >= MAX_PINS:
        raise TooManyPins(f"at most {MAX_PINS} pins per user; unpin one first")
    pin = ExplorerPin(user_id=user_id, title=title, view=view, position=(last or 0) + 1)
    session.add(pin)
    session.flush()
    return pin


def owned(session: Session, user_id: int, pin_id: int) -> ExplorerPin | None:
    """The pin when it is this user's; another user's pin is no pin to them."""
    pin = session.get(ExplorerPin, pin_id)
    return pin if pin is not None and pin.user_id == user_id else None


def as_dict(pin: ExplorerPin) -> dict:
    return {"id": pin.id, "title": pin.title, "view": pin.view, "position": pin.position,
            "created_at": pin.created_at.isoformat()}
