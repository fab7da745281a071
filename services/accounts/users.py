"""Panel users: creation, authentication, roles and the last-admin rule. Callers commit."""
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from database import User, utcnow

ROLES = ("admin", "viewer")
MIN_PASSWORD_LENGTH = 8
# Compared against when the username is unknown, so both failures take the same time.
_DUMMY_HASH = generate_password_hash("timing-equaliser", method="pbkdf2:sha256:1000")


class AccountError(ValueError):
    """Input that cannot make a valid account; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def validate_user_fields(username: str | None, password: str | None, role: str | None) -> None:
    if username is not None and not (1 <= len(username.strip()) <= 80):
        raise AccountError("username", "username must be 1 to 80 characters")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("password", f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if role is not None and role not in ROLES:
        raise AccountError("role", f"role must be one of {', '.join(ROLES)}")


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))


def create_user(session: Session, username: str, password: str, role: str, hash_method: str) -> User:
    """Add a user; raises AccountError on bad fields or a taken name."""
    validate_user_fields(username, password, role)
    if find_user(session, username):
        raise AccountError("username", "username already exists")
    user = User(username=username.strip(), role=role,
                password_hash=generate_password_hash(password, method=hash_method))
    session.add(user)
    session.flush()
    return user


def update_user(session: Session, user: User, changes: dict, hash_method: str) -> User:
    """Apply role, password and active changes; refuses to demote or disable the last admin."""
    validate_user_fields(None, changes.get("password"), changes.get("role"))
    losing_admin = user.is_admin and (changes.get("role", "admin") != "admin" or changes.get("active") is False)
    if losing_admin and count_active_admins(session) <= 1:
        raise AccountError("role", "the last active admin cannot be demoted or disabled")
    if "role" in changes:
        user.role = changes["role"]
    if "active" in changes:
        user.active = bool(changes["active"])
    if changes.get("password"):
        user.password_hash = generate_password_hash(changes["password"], method=hash_method)
    session.flush()
    return user


def delete_user(session: Session, user: User) -> None:
    if user.is_admin and user.active and count_active_admins(session) <= 1:
        raise AccountError("id", "the last active admin cannot be deleted")
    session.delete(user)
    session.flush()


def count_active_admins(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User).where(User.role == "admin", User.active))


def authenticate(session: Session, username: str, password: str) -> User | None:
    """Return the active user whose password matches, else None (one answer for every failure)."""
    user = find_user(session, username or "")
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.active:
        return None
    user.last_login_at = utcnow()
    return user


@dataclass(frozen=True)
class SessionUser:
    """What a request knows of its logged-in user: a plain snapshot, safe to cache and share."""

    id: int
    username: str
    role: str
    active: bool
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def get_id(self) -> str:
        return str(self.id)


def session_user(session: Session, user_id: int) -> SessionUser | None:
    user = session.get(User, user_id)
    return SessionUser(user.id, user.username, user.role, user.active) if user else None


def ensure_admin(session: Session, username: str, password: str | None, hash_method: str) -> str | None:
    """Create the first admin when no admin exists; return the password it was given, else None."""
    if count_active_admins(session):
        return None
    password = password or secrets.token_urlsafe(12)
    existing = find_user(session, username)
    if existing:
        update_user(session, existing, {"role": "admin", "active": True, "password": password}, hash_method)
    else:
        create_user(session, username, password, "admin", hash_method)
    return password


def user_as_dict(user: User) -> dict:
    return {"id": user.id, "username": user.username, "role": user.role, "active": user.active,
            "created_at": user.created_at.isoformat(),
            "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None}


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))
