"""Settings read from the environment (app.py loads `.env` into it first); every name is in `.env.example`.

Importing this module only reads: the secret key is resolved, and kept on disk, when an app is created.
"""
import ipaddress
import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name: str, default: int) -> int:
    return int(env_str(name, str(default)))


def env_float(name: str, default: float) -> float:
    return float(env_str(name, str(default)))


def env_bool(name: str, default: bool) -> bool:
    return env_str(name, "1" if default else "0").lower() in ("1", "true", "yes", "on")


def database_url() -> str:
    """DATABASE_URL, with a relative SQLite path taken from the project folder rather than the shell's."""
    url = env_str("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'pulseboard.db'}")
    path = url.removeprefix("sqlite:///")
    if url.startswith("sqlite:///") and path != ":memory:" and not Path(path).is_absolute():
        return f"sqlite:///{BASE_DIR / path}"
    return url


class SettingError(RuntimeError):
    """A setting the server cannot start with; app.py prints the message and exits, without a traceback."""


class SecretKeyMissing(SettingError):
    """A production start with no SECRET_KEY configured and none kept in the instance folder."""


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SettingError(f"{name} must be {' or '.join(allowed)}, not {value!r}")


def resolve_secret_key(configured: str | None, host: str, instance_dir: Path) -> str:
    """SECRET_KEY when configured, else the key kept in the instance folder, else a new one kept there.

    A server listening beyond loopback is a production start and gets no new key: one made up there would be
    lost with a container's filesystem or differ between hosts, and every restart would log everybody out.
    """
    if configured:
        return configured
    key_file = instance_dir / "secret_key"
    kept = key_file.read_text().strip() if key_file.exists() else ""
    if kept:
        return kept
    if not is_loopback(host):
        raise SecretKeyMissing(
            f"HOST={host} serves beyond this machine, and no SECRET_KEY is set nor kept in {key_file}: set SECRET_KEY "
            "in the environment or .env, the same for every server process (python -c 'import secrets; "
            "print(secrets.token_hex(32))' makes one), or copy the secret_key file of an earlier start there")
    instance_dir.mkdir(parents=True, exist_ok=True)
    # Created readable by its owner only, with no moment of default permissions.
    with os.fdopen(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(secrets.token_hex(32))
    return key_file.read_text().strip()


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost
        return False


class Config:
    HOST = env_str("HOST", "127.0.0.1")
    PORT = env_int("PORT", 5000)
    SECRET_KEY = env_str("SECRET_KEY")  # None: create_app resolves it (resolve_secret_key)
    DATABASE_URL = database_url()
    DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 10)
    SOCKETIO_ASYNC_MODE = env_str("SOCKETIO_ASYNC_MODE", "eventlet")
    SOCKETIO_MESSAGE_QUEUE = env_str("SOCKETIO_MESSAGE_QUEUE")
    # Prefix of every Redis key and channel of one cluster, so two clusters (or two tests) can share a Redis.
    CLUSTER_NAME = env_str("CLUSTER_NAME", "pulseboard")
    SOCKETIO_PING_INTERVAL = env_int("SOCKETIO_PING_INTERVAL", 25)
    SOCKETIO_PING_TIMEOUT = env_int("SOCKETIO_PING_TIMEOUT", 20)
    WEBSOCKET_TRANSPORT = env_str("WEBSOCKET_TRANSPORT", "fast")
    # eventlet.wsgi holds 1,024 connections by default and then stops answering (STACK.md).
    MAX_CONNECTIONS = env_int("MAX_CONNECTIONS", 20000)
    # How many proxies in front set X-Forwarded-For/-Proto/-Host (1 behind make cluster's nginx): rate limits then
    # count each client, not the proxy. 0 trusts none, as a server facing clients directly must.
    TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)
    # Server processes `make cluster` (deploy/cluster.py) starts behind nginx; the server itself does not read it.
    CLUSTER_PROCESSES = env_int("CLUSTER_PROCESSES", 2)
    RATELIMIT_STORAGE_URI = env_str("RATELIMIT_STORAGE_URI", "memory://")
    # The cluster's counters stay apart from another cluster's (or test's) on a shared Redis, like its other keys.
    RATELIMIT_KEY_PREFIX = CLUSTER_NAME
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = env_str("LOGIN_RATE_LIMIT", "5 per minute")
    ADMIN_USERNAME = env_str("ADMIN_USERNAME", "admin")
    ADMIN_PASSWORD = env_str("ADMIN_PASSWORD")
    DEMO = env_bool("DEMO", False)
    LIVE_UPDATE_INTERVAL = env_float("LIVE_UPDATE_INTERVAL", 1.0)
    SYSTEM_SAMPLE_INTERVAL = env_float("SYSTEM_SAMPLE_INTERVAL", 1.0)
    REPLAY_BUFFER_SIZE = env_int("REPLAY_BUFFER_SIZE", 10000)
    REPLAY_BUFFER_SECONDS = env_float("REPLAY_BUFFER_SECONDS", 300.0)
    SSE_HEARTBEAT_SECONDS = env_float("SSE_HEARTBEAT_SECONDS", 15.0)
    INGEST_RATE_LIMIT = env_str("INGEST_RATE_LIMIT", "100 per second")
    INGEST_WRITER = env_str("INGEST_WRITER", "process")
    METRICS_TOKEN = env_str("METRICS_TOKEN")
    RAW_SAMPLE_RETENTION_SECONDS = env_int("RAW_SAMPLE_RETENTION_SECONDS", 3600)
    MINUTE_ROLLUP_RETENTION_DAYS = env_int("MINUTE_ROLLUP_RETENTION_DAYS", 7)
    HOUR_ROLLUP_RETENTION_DAYS = env_int("HOUR_ROLLUP_RETENTION_DAYS", 90)
    METRIC_POINT_RETENTION_DAYS = env_int("METRIC_POINT_RETENTION_DAYS", 7)
    ACTIVITY_RETENTION_DAYS = env_int("ACTIVITY_RETENTION_DAYS", 90)
    MAINTENANCE_INTERVAL = env_float("MAINTENANCE_INTERVAL", 60.0)
    ALERT_EVALUATION_INTERVAL = env_float("ALERT_EVALUATION_INTERVAL", 10.0)
    # Rules are evaluated in this many slices spread evenly over each interval (Prometheus offsets its rule
    # groups the same way): a condition waits for its own slice, not for a pass over every rule.
    ALERT_EVALUATION_SLICES = env_int("ALERT_EVALUATION_SLICES", 4)
    # Install the default rules (high CPU, error rate, p95, failing transactions) on a database's first start.
    ALERT_DEFAULT_RULES = env_bool("ALERT_DEFAULT_RULES", True)
    ALERT_HISTORY_RETENTION_DAYS = env_int("ALERT_HISTORY_RETENTION_DAYS", 90)
    # An instance that changes state more than ALERT_FLAP_CHANGES times within ALERT_FLAP_WINDOW_SECONDS is
    # flapping: its receivers then hear from it at most once per window.
    ALERT_FLAP_CHANGES = env_int("ALERT_FLAP_CHANGES", 4)
    ALERT_FLAP_WINDOW_SECONDS = env_int("ALERT_FLAP_WINDOW_SECONDS", 600)
    WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0)
    WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
    # The address people open the panel at, for the links in webhooks; None: http://HOST:PORT.
    EXTERNAL_URL = env_str("EXTERNAL_URL")
    BREAKER_FAILURES = env_int("BREAKER_FAILURES", 3)
    BREAKER_RESET_SECONDS = env_float("BREAKER_RESET_SECONDS", 5.0)
    PASSWORD_HASH_METHOD = "scrypt"
    MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 16 * 1024 * 1024)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # The admin API checks CSRF itself, after its login check, so anonymous calls get 401, not 400.
    WTF_CSRF_CHECK_DEFAULT = False
    WTF_CSRF_TIME_LIMIT = None


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"
    DATABASE_URL = "sqlite://"
    SOCKETIO_ASYNC_MODE = "threading"
    RATELIMIT_STORAGE_URI = "memory://"
    ADMIN_PASSWORD = "admin-test-password"
    DEMO = False
    BREAKER_RESET_SECONDS = 0.3
    # Hashing is deliberately slow in production; tests make many users.
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    # In-process apps come and go by the hundred in a test run; the writer process is tested on real servers.
    INGEST_WRITER = "inline"
