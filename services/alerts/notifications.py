"""Notifications an admin sends to every dashboard. Callers commit, then publish."""
from sqlalchemy import select
from sqlalchemy.orm import Session

from database import Notification

LEVELS = ("info", "success", "warning", "error")


class NotificationError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def create(session: Session, title, message, level, created_by: str) -> Notification:
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= 200:
        raise NotificationError("title", "title must be 1 to 200 characters")
    if message is not None and (not isinstance(message, str) or len(message) > 2000):
        raise NotificationError("message", "message must be a string of at most 2,000 characters")
    if level not in LEVELS:
        raise NotificationError("level", f"level must be one of {', '.join(LEVELS)}")
    notification = Notification(title=title.strip(), message=message or "", level=level, created_by=created_by)
    session.add(notification)
    session.flush()
    return notification


def recent(session: Session, limit: int) -> list[Notification]:
    return list(session.scalars(select(Notification).order_by(Notification.id.desc()).limit(limit)))


def as_dict(notification: Notification) -> dict:
    return {"id": notification.id, "title": notification.title, "message": notification.message,
            "level": notification.level, "created_by": notification.created_by,
            "created_at": notification.created_at.isoformat()}
