"""Admin API latency in-process: cached metrics/live, and uncached revenue over 1,000,000 transactions."""
import gc
import hashlib
import json
import os
import random
import re
import time
from datetime import UTC, datetime, timedelta

from bench.common import RESULTS_DIR, ROOT, figure, latency_summary, progress, repeated, rounded

FULL_ROWS, QUICK_ROWS = 1_000_000, 100_000
LOAD_BATCH = 5_000
SPAN = timedelta(days=90)
MAX_CACHE_AGE_S = 12 * 3600  # older data would leave the default "last 24 hours" window nearly empty
ADMIN = ("bench-admin", "bench-admin-password")
LIVE_GOAL_MS, REVENUE_GOAL_MS = 5.0, 50.0
PERIODS = ("hourly", "daily", "weekly")
# What the stored rows depend on: the schema and the code that writes rollups.
DATA_SOURCES = ("database.py", "services/ingest/writer.py", "services/ingest/event_schema.py",
                "services/analytics/time_buckets.py")


def run(quick: bool = False) -> dict:
    rows = QUICK_ROWS if quick else FULL_ROWS
    path, loading = database_file(rows)
    app, client = logged_in_client(f"sqlite:///{path}")
    rounds, live_calls, revenue_calls = (1, 300, 30) if quick else (3, 2000, 100)
    client.get("/admin/api/metrics/live")  # the first call fills the cache; the rest are what a dashboard sees
    live = repeated(lambda: measure_live(client, live_calls), rounds)
    revenue = {period: repeated(lambda: measure_revenue(app, client, period, revenue_calls), rounds)  # noqa: B023
               for period in PERIODS}
    return {"transactions": rows, "database": str(path), "loading": loading, "rounds": rounds, "live": live,
            "revenue": revenue,
            "figures": [figure("api: metrics/live cached p50", live["p50_ms"], "ms"),
                        figure("api: metrics/live cached p99", live["p99_ms"], "ms", LIVE_GOAL_MS, False),
                        *[row for period in PERIODS for row in revenue_figures(period, revenue[period], rows)],
                        figure(f"api: loading {rows:,} transactions in-process", loading["items_per_s"], "items/s")]}


def revenue_figures(period: str, result: dict, rows: int) -> list[dict]:
    name = f"api: revenue {period}, uncached, {rows:,} tx"
    return [figure(f"{name} p50", result["p50_ms"], "ms"),
            figure(f"{name} p99", result["p99_ms"], "ms", REVENUE_GOAL_MS, False)]


def measure_live(client, calls: int) -> dict:
    # The "live" namespace lives 1 s, so about one call a second recomputes it: that is part of "cached".
    durations = []
    for _ in range(calls):
        started = time.perf_counter()
        response = client.get("/admin/api/metrics/live")
        durations.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text[:300]
    return latency_summary(durations)


def measure_revenue(app, client, period: str, calls: int) -> dict:
    cache, durations, count = app.extensions["runtime"].cache, [], None
    for _ in range(calls):
        cache.clear("revenue")
        started = time.perf_counter()
        response = client.get(f"/admin/api/analytics/revenue?period={period}")
        durations.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text[:300]
        count = response.json["summary"]["count"]
    return latency_summary(durations) | {"completed_in_range": count}


def logged_in_client(url: str):
    """The real app on the benchmark database, with an admin logged in through the form."""
    from app_factory import create_app
    from config import TestConfig
    from extensions import db
    from services.accounts import users

    config = type("BenchConfig", (TestConfig,), {"DATABASE_URL": url})
    app = create_app(config)
    with app.app_context():
        users.ensure_admin(db.session, *ADMIN, TestConfig.PASSWORD_HASH_METHOD)
        db.session.commit()
    client = app.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/login").text).group(1)
    answer = client.post("/login", data={"username": ADMIN[0], "password": ADMIN[1], "csrf_token": token})
    assert answer.status_code in (302, 303), answer.text[:300]
    gc.freeze()  # as app.py does once the server is set up
    return app, client


def database_file(rows: int):
    """A SQLite file holding `rows` transactions, reused while the schema and ingest code are unchanged."""
    digest = hashlib.sha256(b"".join((ROOT / name).read_bytes() for name in DATA_SOURCES) + b"".join(
        path.read_bytes() for path in sorted((ROOT / "migrations" / "versions").glob("*.py")))).hexdigest()[:12]
    path = RESULTS_DIR / f"api-{rows}-{digest}.db"
    notes = path.with_suffix(".json")  # how the cached file was loaded, reported again when it is reused
    if path.exists() and notes.exists() and time.time() - path.stat().st_mtime < MAX_CACHE_AGE_S:
        progress(f"api: reusing {path.name}")
        return path, json.loads(notes.read_text()) | {"cached": True}
    for stale in RESULTS_DIR.glob(f"api-{rows}-*"):
        stale.unlink()
    loading = build_database(path, rows)
    notes.write_text(json.dumps(loading))
    return path, loading


def build_database(path, rows: int) -> dict:
    """Load through the real ingest path (parse_batch, store_batch) in batches of LOAD_BATCH."""
    from sqlalchemy.orm import Session

    from database import create_database_engine
    from services.ingest import event_schema, writer
    from services.runtime import migrations

    partial = path.with_suffix(".partial")  # renamed when complete, so an interrupted build is never reused
    for leftover in path.parent.glob(partial.name + "*"):
        leftover.unlink()
    migrations.upgrade(f"sqlite:///{partial}")
    engine, rng, now = create_database_engine(f"sqlite:///{partial}"), random.Random(90), datetime.now(UTC)
    parse_s = store_s = 0.0
    progress(f"api: loading {rows:,} transactions into {path.name}")
    started = time.perf_counter()
    with Session(engine) as session:
        for first in range(0, rows, LOAD_BATCH):
            payload = {"transactions": [transaction(rng, now, number) for number in range(first, first + LOAD_BATCH)]}
            step = time.perf_counter()
            parsed, errors = event_schema.parse_batch(payload, now)
            assert not errors, errors[:3]
            parse_s, step = parse_s + time.perf_counter() - step, time.perf_counter()
            writer.store_batch(session, parsed)
            session.commit()
            store_s += time.perf_counter() - step
    elapsed = time.perf_counter() - started
    engine.dispose()
    os.replace(partial, path)
    progress(f"api: loaded {rows:,} in {elapsed:.1f} s ({rows / elapsed:,.0f}/s)")
    return {"cached": False, "seconds": rounded(elapsed, 1), "items_per_s": rounded(rows / elapsed, 0),
            "parse_s": rounded(parse_s, 1), "store_and_commit_s": rounded(store_s, 1),
            "generate_payloads_s": rounded(elapsed - parse_s - store_s, 1)}


CURRENCIES = ("USD", "USD", "USD", "EUR", "EUR", "GBP", "JPY", "CAD")
STATUSES = ("completed",) * 7 + ("pending", "failed", "refunded")


def transaction(rng: random.Random, now: datetime, number: int) -> dict:
    moment = now - SPAN * rng.random()
    return {"id": f"tx-{number}", "amount": f"{rng.uniform(1, 900):.2f}", "currency": rng.choice(CURRENCIES),
            "status": rng.choice(STATUSES), "user_id": f"user-{rng.randrange(20_000)}",
            "timestamp": moment.isoformat(), "metadata": {"sku": f"SKU-{rng.randrange(500)}"}}
