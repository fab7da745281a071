"""Background jobs of a server process: host sampling, request-rollup flushes, rollups and retention.

Loops are started with the caller's `spawn` and `sleep` (Socket.IO's start_background_task and sleep),
so the same code runs under eventlet, gevent or threads.
"""
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from database import MetricPoint, MetricRollup, RequestRollup, UserActivity, utcnow
from services.alerts import history as alert_history
from services.monitoring import host_sampler, performance
from services.runtime.process import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    interval: float
    run: Callable[[Session], None]


def sample_host(runtime: Runtime) -> Callable[[Session], None]:
    samplers: list[host_sampler.HostSampler] = []

    def run(session: Session) -> None:
        if not samplers:  # psutil keeps its CPU baseline per thread, so build it inside the loop
            samplers.append(host_sampler.HostSampler(runtime.host, runtime.pid))
        sample = samplers[0].take()
        host_sampler.store(session, sample)
        runtime.latest_sample = sample
        runtime.hub.publish("metrics", [sample])
    return run


def flush_requests(runtime: Runtime) -> Callable[[Session], None]:
    def run(session: Session) -> None:
        rows = runtime.monitor.drain_completed()
        performance.flush(session, rows)
        runtime.absorb_request_minutes(rows)
    return run


def maintain(settings: dict) -> Callable[[Session], None]:
    """Roll host samples up to 1 min and 1 h and delete what is past its retention."""
    def run(session: Session) -> None:
        now = utcnow()
        host_sampler.roll_up(session, "1m", now)
        host_sampler.roll_up(session, "1h", now)
        host_sampler.purge(session, now, settings["RAW_SAMPLE_RETENTION_SECONDS"],
                           settings["MINUTE_ROLLUP_RETENTION_DAYS"], settings["HOUR_ROLLUP_RETENTION_DAYS"])
        purge_before(session, MetricPoint.occurred_at, now - timedelta(days=settings["METRIC_POINT_RETENTION_DAYS"]))
        purge_before(session, UserActivity.occurred_at, now - timedelta(days=settings["ACTIVITY_RETENTION_DAYS"]))
        purge_before(session, RequestRollup.minute, now - timedelta(days=settings["MINUTE_ROLLUP_RETENTION_DAYS"]))
        alert_history.purge(session, now - timedelta(days=settings["ALERT_HISTORY_RETENTION_DAYS"]))
        minute_cutoff = now - timedelta(days=settings["MINUTE_ROLLUP_RETENTION_DAYS"])
        session.execute(delete(MetricRollup).where(MetricRollup.bucket.in_(("1m", "5m")),
                                                   MetricRollup.bucket_start < minute_cutoff))
    return run


def purge_before(session: Session, column, cutoff) -> None:
    session.execute(delete(column.class_).where(column < cutoff))


def standard_jobs(runtime: Runtime, settings: dict, is_leader: Callable[[], bool] = lambda: True) -> list[Job]:
    """Every process samples its host and flushes its own request minutes; only the cluster's leader maintains,
    since two processes rolling up the same period at once would both add its rollup row."""
    return [Job("host_sample", settings["SYSTEM_SAMPLE_INTERVAL"], sample_host(runtime)),
            Job("request_rollups", 10.0, flush_requests(runtime)),
            Job("maintenance", settings["MAINTENANCE_INTERVAL"], only_when(is_leader, maintain(settings)))]


def only_when(condition: Callable[[], bool], run: Callable[[Session], None]) -> Callable[[Session], None]:
    def guarded(session: Session) -> None:
        if condition():
            run(session)
    return guarded


class JobRunner:
    """Runs each job in its own loop; one failing run is logged and retried at the next interval."""

    def __init__(self, runtime: Runtime, sessions, spawn: Callable, sleep: Callable[[float], None]) -> None:
        self.runtime, self.sessions, self.spawn, self.sleep = runtime, sessions, spawn, sleep
        self.stopped = threading.Event()

    def start(self, jobs: list[Job]) -> None:
        for job in jobs:
            self.spawn(self.loop, job)

    def loop(self, job: Job) -> None:
        # A fixed rate, not a fixed pause: a run that takes 300 ms of a 10 s interval still runs every 10 s.
        while not self.stopped.is_set():
            started = time.monotonic()
            self.run_once(job)
            self.sleep(max(0.0, job.interval - (time.monotonic() - started)))

    def run_once(self, job: Job) -> None:
        started = time.perf_counter()
        session = self.sessions()
        # Counted, so that a reader polling health can tell how often a job ran, not only how its last run went.
        count = self.runtime.job_runs.get(job.name, {}).get("count", 0) + 1
        try:
            job.run(session)
            session.commit()
            self.runtime.job_runs[job.name] = {"at": utcnow().isoformat(), "ok": True, "count": count,
                                               "ms": round((time.perf_counter() - started) * 1000, 2)}
        except Exception as error:  # a job must outlive a database outage; the next run retries
            session.rollback()
            self.runtime.job_runs[job.name] = {"at": utcnow().isoformat(), "ok": False, "count": count,
                                               "error": str(error)[:200]}
            log.warning("background job %s failed: %s", job.name, error)
        finally:
            self.sessions.remove()
