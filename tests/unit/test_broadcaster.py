"""The live_update broadcaster: nothing while nobody listens, one small message per tick otherwise."""
import json
from datetime import UTC, datetime

import pytest

from config import TestConfig
from services.ingest import event_schema, writer
from services.realtime.broadcaster import LiveBroadcaster, revenue_delta
from services.runtime.process import build_runtime

NOW = datetime.now(UTC)


@pytest.fixture
def runtime():
    settings = {name: getattr(TestConfig, name) for name in dir(TestConfig) if name.isupper()}
    return build_runtime(settings)


def store(session, runtime, payload):
    rows, errors = event_schema.parse_batch(payload, NOW)
    assert errors == []
    runtime.announce_ingested(writer.store_batch(session, rows))
    session.commit()


def sale(id, amount, currency="USD"):
    return {"id": id, "amount": amount, "currency": currency, "status": "completed", "user_id": "u"}


def test_nothing_is_built_while_nobody_listens(db_session, runtime):
    broadcaster = LiveBroadcaster(runtime, runtime.presence, 1.0)
    seq = runtime.hub.latest_seq
    assert broadcaster.tick(db_session, NOW) is None
    assert runtime.hub.latest_seq == seq
    assert runtime.cache.stats()["namespaces"]["live"]["misses"] == 0


def test_one_small_update_per_tick_with_deltas(db_session, runtime):
    runtime.presence.join("sid-1", "admin", seq=0)
    broadcaster = LiveBroadcaster(runtime, runtime.presence, 1.0)
    store(db_session, runtime, {"transactions": [sale("a", "10.00")], "activities": [{"user_id": "u", "action": "x"}]})
    first = broadcaster.tick(db_session, NOW)
    assert first["kpis"]["revenue_today"] == {"USD": "10.00"} and first["revenue_delta"] == {}

    store(db_session, runtime, {"transactions": [sale("b", "2.50"), sale("c", "1", "EUR")]})
    runtime.cache.invalidate("live")
    second = broadcaster.tick(db_session, NOW)
    assert second["revenue_delta"] == {"USD": "2.50", "EUR": "1.00"}
    assert (second["transactions_delta"], second["activity_delta"]) == (2, 0)
    messages, _ = runtime.hub.since(0)
    assert [m.channel for m in messages].count("live_update") == 2
    assert len(json.dumps(messages[-1].payload())) < 1024


def test_an_sse_stream_counts_as_a_listener(db_session, runtime):
    runtime.presence.open_stream(("live_update",))
    assert LiveBroadcaster(runtime, runtime.presence, 1.0).tick(db_session, NOW) is not None


@pytest.mark.parametrize("before, after, expected", [
    ({"USD": "10.00"}, {"USD": "12.50"}, {"USD": "2.50"}),
    ({"USD": "10.00"}, {"USD": "10.00"}, {}),
    ({"USD": "10.00"}, {"USD": "3.00"}, {"USD": "3.00"}),  # a new day started
    ({}, {"JPY": "500.00"}, {"JPY": "500.00"}),
])
def test_revenue_delta(before, after, expected):
    assert revenue_delta(before, after) == expected
