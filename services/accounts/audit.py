"""The audit log: who changed what, and when. Callers commit with the change itself."""
from sqlalchemy import select
from sqlalchemy.orm import Session

from database import AuditEntry


def record(session: Session, actor: str, action: str, target: str | None = None,
           details: dict | None = None, remote_addr: str | None = None) -> AuditEntry:
    entry = AuditEntry(actor=actor, action=action, target=target, details=details or {}, remote_addr=remote_addr)
    session.add(entry)
    return entry


def recent(session: Session, limit: int = 100, action: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query))


def as_dict(entry: AuditEntry) -> dict:
    return {"id": entry.id, "at": entry.at.isoformat(), "actor": entry.actor, "action": entry.action,
            "target": entry.target, "details": entry.details, "remote_addr": entry.remote_addr}
