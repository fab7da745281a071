"""Component checks behind GET /admin/api/health: database, cache, real-time layer, message queue, jobs."""
import time

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.cache.circuit_breaker import CircuitBreaker
from services.runtime.process import Runtime


def check_database(session: Session, breaker: CircuitBreaker) -> dict:
    """Probe through the breaker: while it is open the answer comes at once instead of after a connect timeout,
    and once it lets a trial through, a good probe closes it like any good read."""
    started = time.perf_counter()
    try:
        breaker.call(lambda: session.execute(text("SELECT 1")))
    except Exception as error:  # any failure here is the answer, not a crash
        session.rollback()
        return {"status": "down", "error": str(error)[:200]}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def check_message_queue(url: str | None) -> dict:
    if not url:
        return {"status": "ok", "mode": "single process (no message queue configured)"}
    try:
        import redis
        started = time.perf_counter()
        with redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1) as client:  # its socket closes now
            client.ping()
    except Exception as error:
        return {"status": "down", "error": str(error)[:200]}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def check_jobs(runtime: Runtime, now: float) -> dict:
    """The last run of every background job succeeded."""
    failing = [name for name, state in runtime.job_runs.items() if not state.get("ok")]
    return {"status": "degraded" if failing else "ok", "failing": failing, "runs": dict(runtime.job_runs),
            "uptime_s": round(now - runtime.started_at, 1)}


def check_realtime(runtime: Runtime) -> dict:
    """The hub's position, the stream's state (mode, epoch, last seq, why degraded), who listens, and the
    broadcaster's last run (absent until somebody listens)."""
    broadcaster = runtime.job_runs.get("live_update")
    stream = runtime.hub.state()
    failing = stream["degraded"] or (broadcaster and not broadcaster["ok"])
    return {"status": "degraded" if failing else "ok", "seq": runtime.hub.latest_seq, "stream": stream,
            "clients": runtime.presence.counts(), "broadcaster": broadcaster}


def overall(components: dict[str, dict]) -> str:
    return "healthy" if all(part["status"] == "ok" for part in components.values()) else "degraded"
