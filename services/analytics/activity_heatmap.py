"""User activity counted by UTC hour of day × day of week, grouped by the database in one query."""
from datetime import datetime

from sqlalchemy import Integer, cast, extract, func, select
from sqlalchemy.orm import Session

from database import UserActivity

DAYS_OF_WEEK = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DEFAULT_DAYS = 7
MAX_DAYS = 366


def hour_and_weekday(session: Session, column) -> tuple:
    """The UTC hour (0–23) and weekday (0 = Monday … 6 = Sunday) of a timestamp column, as SQL expressions.

    SQLite keeps naive UTC text, read with strftime (%w counts from Sunday); PostgreSQL keeps a zone, so the
    timestamp is moved to UTC before extracting (isodow counts from Monday = 1)."""
    if session.get_bind().dialect.name == "sqlite":
        hour = cast(func.strftime("%H", column), Integer)
        weekday = (cast(func.strftime("%w", column), Integer) + 6) % 7
        return hour, weekday
    utc = func.timezone("UTC", column)
    return cast(extract("hour", utc), Integer), cast(extract("isodow", utc), Integer) - 1


def activity_heatmap(session: Session, since: datetime, until: datetime, action: str | None = None) -> dict:
    """Counts of activities in [since, until) (of one action, or all) as a 7 × 24 matrix: matrix[weekday][hour]."""
    hour, weekday = hour_and_weekday(session, UserActivity.occurred_at)
    conditions = [UserActivity.occurred_at >= since, UserActivity.occurred_at < until]
    if action is not None:
        conditions.append(UserActivity.action == action)
    rows = session.execute(select(weekday.label("weekday"), hour.label("hour"), func.count())
                           .where(*conditions).group_by("weekday", "hour")).all()
    matrix = [[0] * 24 for _ in DAYS_OF_WEEK]
    for day, hour_of_day, count in rows:
        matrix[int(day)][int(hour_of_day)] = count
    return {"timezone": "UTC", "since": since.isoformat(), "until": until.isoformat(), "action": action,
            "days_of_week": list(DAYS_OF_WEEK), "hours": list(range(24)), "matrix": matrix,
            "total": sum(map(sum, matrix)), "max": max(map(max, matrix))}

