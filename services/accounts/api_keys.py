"""API keys for senders: issued once in clear, stored as a hash, revoked at once. Callers commit."""
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from database import ApiKey, User, utcnow
from services.accounts.users import AccountError, SessionUser

API_KEY_PREFIX = "pb_"


@dataclass(frozen=True)
class IssuedKey:
    record: ApiKey
    key: str


def hash_api_key(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash suffices; a slow one would tax every ingest call.
    return hashlib.sha256(key.encode()).hexdigest()


def issue_api_key(session: Session, name: str, created_by: User | SessionUser | None = None) -> IssuedKey:
    """Create a key; the clear key exists only in the returned value."""
    if not name or not name.strip() or len(name.strip()) > 80:
        raise AccountError("name", "name must be 1 to 80 characters")
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(name=name.strip(), prefix=key[:10], key_hash=hash_api_key(key),
                    created_by_id=created_by.id if created_by else None)
    session.add(record)
    session.flush()
    return IssuedKey(record, key)


def replace_api_key(session: Session, name: str) -> str:
    """Revoke every active key called `name` and issue a new one; return the clear key."""
    for record in session.scalars(select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))):
        record.revoked_at = utcnow()
    return issue_api_key(session, name).key


def find_active_api_key(session: Session, key: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None)))


def touch_api_key(session: Session, record: ApiKey, now, every_seconds: int = 60) -> None:
    """Note the key's use, at most once a minute, so ingest does not write a row per request for it."""
    if record.last_used_at is None or (now - record.last_used_at).total_seconds() >= every_seconds:
        record.last_used_at = now


def revoke_api_key(session: Session, record: ApiKey) -> None:
    if record.revoked_at is None:
        record.revoked_at = utcnow()
    session.flush()


def api_key_as_dict(record: ApiKey) -> dict:
    return {"id": record.id, "name": record.name, "prefix": record.prefix,
            "created_at": record.created_at.isoformat(),
            "last_used_at": record.last_used_at.isoformat() if record.last_used_at else None,
            "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None}


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
