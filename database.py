"""Engine and session wiring, and the typed models (SQLAlchemy 2.x).

Longer than our other modules on purpose: the whole schema stands in one file, every table beside its indexes and
constraints, so that a migration (migrations/versions/) is reviewed against one place."""
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, scoped_session, sessionmaker
from sqlalchemy.pool import StaticPool


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


# How long the server waits on the database (a lock, a statement, a silent server, a free pooled connection)
# before it gives up and answers 503: long enough for any request's query, short enough not to hang a sender.
SERVER_DATABASE_TIMEOUT = 5.0
CONNECT_TIMEOUT = 2  # libpq's, whole seconds (2 at least)


def create_database_engine(url: str, pool_size: int = 10, timeout: float | None = None) -> Engine:
    """Return an engine for `url`; with a `timeout`, every wait on the database ends after it with an error.

    SQLite gets WAL (readers never block the writer) and the timeout (else 30 s) as its busy timeout. Tools
    (migrations, the CLI) pass none: they would rather wait than fail halfway.
    """
    if url.startswith("sqlite"):
        options: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": timeout or 30}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            options["poolclass"] = StaticPool
        engine = create_engine(url, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_timeout=timeout or 30)
    if url.startswith("postgresql+psycopg"):
        event.listen(engine, "do_connect", partial(_connect_psycopg, timeout=timeout))
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Checkpoint every 64 MB of WAL instead of every 4 MB: a checkpoint fsyncs twice and writes each changed page
    # once however often it changed since the last, so ingest wrote 6.3 KB an item with the default, 4.0 with this.
    cursor.execute("PRAGMA wal_autocheckpoint=16384")
    # A 16 MB page cache instead of 2 MB: ingest inserts transactions at random places in their time index, and
    # with 2 MB each insert read most of its pages back from the file (measured on 480k rows: 8.3 µs a row, 5.8
    # with 16 MB, no less with 64). The cache fills only with pages a connection reads.
    cursor.execute("PRAGMA cache_size=-16384")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _connect_psycopg(_dialect, _record, cargs, cparams, timeout: float | None):
    """Connect as a BoundedConnection; with a timeout, also bound the connect and every statement by it."""
    if timeout is not None:
        cparams.setdefault("connect_timeout", CONNECT_TIMEOUT)
        cparams["options"] = f"{cparams.get('options', '')} -c statement_timeout={round(timeout * 1000)}".strip()
    from services.runtime.psycopg_internals import BoundedConnection  # psycopg is imported only where PostgreSQL is used

    connection = BoundedConnection.connect(*cargs, **cparams)
    # A second more than the statement timeout, so that a slow statement is ended by the server, which keeps
    # the connection usable, rather than by the client, which has to drop it.
    connection.answer_timeout = None if timeout is None else timeout + 1
    return connection


class Database:
    """One engine per app and one session per request or background task, removed at teardown."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session: scoped_session | None = None

    def init_app(self, app) -> None:
        self.engine = create_database_engine(app.config["DATABASE_URL"], app.config["DATABASE_POOL_SIZE"],
                                             SERVER_DATABASE_TIMEOUT)
        self.session = scoped_session(sessionmaker(bind=self.engine, expire_on_commit=False))
        app.teardown_appcontext(self.remove_session)
        app.extensions["database"] = self

    def remove_session(self, _exc=None) -> None:
        self.session.remove()


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    # flask-login protocol
    @property
    def is_active(self) -> bool:
        return self.active

    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Transaction(Base):
    """A sender's transaction; `external_id` is the sender's id, so a repeat updates this row."""

    __tablename__ = "transactions"
    # No index by user: no query reads by user, and with random user ids each stored row dirtied one more page
    # of it (ingest's writes per item fell by half without the two).
    __table_args__ = (Index("ix_transactions_occurred_at_status", "occurred_at", "status"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), unique=True)
    # Exact money: ten-thousandths of the currency unit, so sums never drift as floats do.
    amount_e4: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RevenueRollup(Base):
    """Transactions per UTC hour, currency and status, kept up to date by every ingest batch."""

    __tablename__ = "revenue_rollups"
    __table_args__ = (UniqueConstraint("hour", "currency", "status", name="uq_revenue_rollups_group"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hour: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(BigInteger)
    amount_e4: Mapped[int] = mapped_column(BigInteger)


class IngestLock(Base):
    """One row that every ingest batch updates first, so rollups are read and written by one batch at a time."""

    __tablename__ = "ingest_lock"

    id: Mapped[int] = mapped_column(primary_key=True)
    batches: Mapped[int] = mapped_column(BigInteger, default=0)


class LeaderFence(Base):
    """The newest fencing token a leader role wrote with: a write stretch carrying an older one is refused."""

    __tablename__ = "leader_fences"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)


class UserActivity(Base):
    __tablename__ = "user_activities"
    __table_args__ = (Index("ix_user_activities_occurred_at_action", "occurred_at", "action"),)  # none by user: see Transaction

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(String(512))
    session_id: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[datetime]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class HostSample(Base):
    """One psutil sample of one server process's host; `data` keeps the full reading."""

    __tablename__ = "host_samples"
    __table_args__ = (Index("ix_host_samples_taken_at_host", "taken_at", "host"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    resolution: Mapped[str] = mapped_column(String(8), default="raw")
    taken_at: Mapped[datetime]
    cpu_percent: Mapped[float] = mapped_column(Float)
    memory_percent: Mapped[float] = mapped_column(Float)
    disk_percent: Mapped[float] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class MetricPoint(Base):
    __tablename__ = "metric_points"
    __table_args__ = (Index("ix_metric_points_name_occurred_at", "name", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[float] = mapped_column(Float)
    occurred_at: Mapped[datetime]
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)


class MetricRollup(Base):
    """Pre-aggregated custom metrics per bucket (1m/5m/1h/1d) and tag set; `histogram` gives p95/p99."""

    __tablename__ = "metric_rollups"
    __table_args__ = (
        UniqueConstraint("name", "bucket", "bucket_start", "tags_key", name="uq_metric_rollups_series"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    bucket: Mapped[str] = mapped_column(String(4))
    bucket_start: Mapped[datetime]
    tags_key: Mapped[str] = mapped_column(String(512), default="")
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    count: Mapped[int] = mapped_column(BigInteger)
    sum: Mapped[float] = mapped_column(Float)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)
    histogram: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RequestRollup(Base):
    """Per-minute request timings of one endpoint in one process, as mergeable histogram buckets."""

    __tablename__ = "request_rollups"
    __table_args__ = (
        UniqueConstraint("minute", "host", "pid", "endpoint", "method", name="uq_request_rollups_series"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    minute: Mapped[datetime] = mapped_column(index=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    endpoint: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(10))
    count: Mapped[int]
    errors: Mapped[int]
    total_ms: Mapped[float] = mapped_column(Float)
    histogram: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AlertRule(Base):
    """One series, condition and timing (SPEC §9); services/alerts/rules.py validates every field."""

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(String(200))
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)  # metric tags, or {"endpoint": ...}
    group_by: Mapped[list[str]] = mapped_column(JSON, default=list)
    aggregation: Mapped[str] = mapped_column(String(16), default="avg")
    window_seconds: Mapped[int] = mapped_column(default=60)
    comparator: Mapped[str] = mapped_column(String(2))
    threshold: Mapped[float] = mapped_column(Float)
    recovery_threshold: Mapped[float | None] = mapped_column(Float)
    compare_offset_seconds: Mapped[int | None]
    for_seconds: Mapped[int] = mapped_column(default=0)
    keep_firing_for_seconds: Mapped[int] = mapped_column(default=0)
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What an instance with no points in the window, or whose evaluation failed, is: its own state or another.
    nodata_state: Mapped[str] = mapped_column(String(16), default="nodata")
    error_state: Mapped[str] = mapped_column(String(16), default="error")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Alert(Base):
    """One alert instance: a rule's label set (SPEC §9), kept across its episodes. The evaluation loop
    (services/alerts/evaluator.py) moves it through the lifecycle; `alert_transitions` holds every move."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_state_started_at", "state", "started_at"),
                      UniqueConstraint("rule_id", "fingerprint", name="uq_alerts_rule_fingerprint"))

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="SET NULL"))
    rule_name: Mapped[str] = mapped_column(String(120), default="")
    # Alertmanager's identity of a label set: 16 hex digits of a hash over the sorted labels.
    fingerprint: Mapped[str] = mapped_column(String(16), default="")
    state: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the rule's templates, rendered
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)  # condition first met, this episode
    state_since: Mapped[datetime] = mapped_column(default=utcnow)  # when the current state began
    fired_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))
    acknowledged_at: Mapped[datetime | None]
    silenced: Mapped[bool] = mapped_column(Boolean, default=False)
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    # What receivers last heard of this instance ("firing", "resolved" or nothing yet) and when: a resolved
    # notification goes out exactly when they heard "firing", and a flapping instance is heard once a window.
    notified_state: Mapped[str | None] = mapped_column(String(16))
    notified_at: Mapped[datetime | None]


class AlertTransition(Base):
    """One state change of an instance: its history (ALERT_HISTORY_RETENTION_DAYS)."""

    __tablename__ = "alert_transitions"
    __table_args__ = (Index("ix_alert_transitions_alert_at", "alert_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(200), default="")


class Silence(Base):
    """Label matchers that mute notifications of matching instances between starts_at and ends_at."""

    __tablename__ = "silences"

    id: Mapped[int] = mapped_column(primary_key=True)
    matchers: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime] = mapped_column(default=utcnow)
    ends_at: Mapped[datetime] = mapped_column(index=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Receiver(Base):
    """A webhook that firing and resolved notifications are delivered to (SPEC §9)."""

    __tablename__ = "receivers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    format: Mapped[str] = mapped_column(String(16), default="alertmanager")
    send_resolved: Mapped[bool] = mapped_column(Boolean, default=True)
    min_severity: Mapped[str] = mapped_column(String(16), default="info")
    repeat_interval_seconds: Mapped[int | None]
    created_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """One webhook call to make or made: a row, so a restart loses none. The body is built when the row is
    queued, so it says what was true then even if the rule is edited or deleted before it is sent."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
                      Index("ix_deliveries_receiver_id_id", "receiver_id", "id"),
                      Index("ix_deliveries_alert_id_receiver_id", "alert_id", "receiver_id"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    receiver_id: Mapped[int] = mapped_column(ForeignKey("receivers.id", ondelete="CASCADE"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # firing, resolved, reminder or test
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, delivered or dead
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class Annotation(Base):
    """A mark on the time charts that another system posted (a deploy, an incident): a moment or a span."""

    __tablename__ = "annotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    time: Mapped[datetime] = mapped_column(index=True)
    time_end: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(80))  # the API key's name, or the user's
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExplorerPin(Base):
    """A metric explorer view a user pinned to their dashboard, in their order."""

    __tablename__ = "explorer_pins"
    __table_args__ = (Index("ix_explorer_pins_user_id_position", "user_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(String(120))
    view: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the explorer's query, as its URL holds it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    level: Mapped[str] = mapped_column(String(16), default="info")
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(String(80))


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
