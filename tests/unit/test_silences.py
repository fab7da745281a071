"""Silences without an app, on a fixed clock: each matcher operator, the body's rules, status over time, expiry,
listing and apply() on alert rows."""
from datetime import UTC, datetime, timedelta

import pytest

from database import Alert, Silence
from services.alerts import silences

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
LABELS = {"alertname": "High CPU", "severity": "critical", "host": "web-1", "env": ""}
BODY = {"matchers": [{"name": "host", "op": "=", "value": "web-1"}], "ends_at": "2026-12-03T14:00:00Z",
        "comment": "maintenance"}


def matcher(name: str, op: str, value: str) -> dict:
    return {"name": name, "op": op, "value": value}


@pytest.mark.parametrize("name, op, value, expected", [
    ("host", "=", "web-1", True),
    ("host", "=", "web-2", False),
    ("host", "=", "web", False),  # equality, not a prefix
    ("host", "!=", "web-2", True),
    ("host", "!=", "web-1", False),
    ("host", "=~", "web-[0-9]+", True),
    ("host", "=~", "web", False),  # anchored at both ends: a substring is no match
    ("host", "=~", "eb-1", False),
    ("host", "=~", "web-1|db-1", True),  # the whole alternation is anchored, not only its ends
    ("host", "=~", "db-1|web", False),
    ("host", "!~", "db-.*", True),
    ("host", "!~", "web-.*", False),
    ("host", "!~", "web", True),
    # A label the instance lacks is the empty string.
    ("region", "=", "", True),
    ("region", "=", "eu", False),
    ("region", "!=", "eu", True),
    ("region", "!=", "", False),
    ("region", "=~", ".*", True),
    ("region", "=~", ".+", False),
    ("region", "!~", ".+", True),
    ("region", "!~", "", False),
    # A label set to the empty string is the same as a missing one.
    ("env", "=", "", True),
    ("env", "=~", "prod", False),
])
def test_each_operator(name, op, value, expected):
    assert silences.matches([matcher(name, op, value)], LABELS) is expected


def test_every_matcher_must_hold():
    assert silences.matches([matcher("host", "=", "web-1"), matcher("severity", "=~", "crit.*")], LABELS)
    assert not silences.matches([matcher("host", "=", "web-1"), matcher("severity", "=", "warning")], LABELS)


def test_a_pattern_is_compiled_once():
    silences.pattern.cache_clear()
    for _ in range(3):
        silences.matches([matcher("host", "=~", "web-[0-9]+")], LABELS)
    assert silences.pattern.cache_info().misses == 1


def test_an_instance_is_silenced_by_any_silence_that_matches():
    web, db = (Silence(matchers=[matcher("host", "=", host)]) for host in ("web-1", "db-1"))
    assert silences.silenced(LABELS, [db, web]) and not silences.silenced(LABELS, [db]) and not silences.silenced(LABELS, [])


def test_a_body_is_read_with_starts_at_defaulting_to_now():
    fields = silences.read_fields(BODY, NOW)
    assert fields == {"matchers": BODY["matchers"], "starts_at": NOW, "ends_at": NOW + 2 * HOUR, "comment": "maintenance"}


def test_times_are_read_in_utc_and_a_past_start_is_now():
    fields = silences.read_fields(BODY | {"starts_at": "2026-12-03T14:30:00+02:00", "ends_at": "2026-12-03T13:00:00-01:00"},
                                  NOW)
    assert (fields["starts_at"], fields["ends_at"]) == (NOW + HOUR / 2, NOW + 2 * HOUR)
    assert silences.read_fields(BODY | {"starts_at": "2020-01-01T00:00:00Z"}, NOW)["starts_at"] == NOW


def test_a_silence_may_last_a_year_from_its_start():
    ends = NOW + timedelta(days=30 + 366)
    fields = silences.read_fields(BODY | {"starts_at": (NOW + timedelta(days=30)).isoformat(), "ends_at": ends.isoformat()}, NOW)
    assert fields["ends_at"] == ends


MANY = [matcher("host", "=", f"web-{n}") for n in range(21)]


@pytest.mark.parametrize("changes, field, message", [
    ({"matchers": []}, "matchers", "1 to 20"),
    ({"matchers": MANY}, "matchers", "1 to 20"),
    ({"matchers": "host=web-1"}, "matchers", "list"),
    ({"matchers": [7]}, "matchers", "must be an object"),
    ({"matchers": [{"name": "host", "op": "="}]}, "matchers", "exactly name, op, value"),
    ({"matchers": [matcher("host", "=", "a") | {"regex": True}]}, "matchers", "exactly"),
    ({"matchers": [matcher("1host", "=", "a")]}, "matchers", "label name"),
    ({"matchers": [matcher("host-name", "=", "a")]}, "matchers", "label name"),
    ({"matchers": [matcher("h" * 101, "=", "a")]}, "matchers", "label name"),
    ({"matchers": [{"name": 7, "op": "=", "value": "a"}]}, "matchers", "label name"),
    ({"matchers": [matcher("host", "==", "a")]}, "matchers", "op must be one of"),
    ({"matchers": [{"name": "host", "op": ["="], "value": "a"}]}, "matchers", "op must be one of"),
    ({"matchers": [{"name": "host", "op": "=", "value": 7}]}, "matchers", "value must be a string"),
    ({"matchers": [matcher("host", "=", "v" * 501)]}, "matchers", "500"),
    ({"matchers": [matcher("host", "=~", "web-(")]}, "matchers", r"matchers\[0\]\.value is not a regular expression"),
    ({"matchers": [matcher("host", "!~", "[")]}, "matchers", "not a regular expression"),
    ({"matchers": [matcher("host", "=~", "a{4294967296}")]}, "matchers", "not a regular expression"),
    # Matchers that all match the empty string would mute everything lacking the label.
    ({"matchers": [matcher("host", "!=", "web-1")]}, "matchers", "must not match the empty string"),
    ({"matchers": [matcher("host", "=~", ".*")]}, "matchers", "must not match the empty string"),
    ({"matchers": [matcher("host", "=", "")]}, "matchers", "must not match the empty string"),
    ({"matchers": [matcher("host", "!~", "web-.*"), matcher("env", "=~", "|prod")]}, "matchers", "empty string"),
    ({"starts_at": "2026-12-03T13:00:00"}, "starts_at", "with a zone"),
    ({"starts_at": "tomorrow"}, "starts_at", "ISO 8601"),
    ({"starts_at": 1796299200}, "starts_at", "ISO 8601"),
    ({"starts_at": None}, "starts_at", "ISO 8601"),
    ({"starts_at": "9999-12-31T23:59:59-01:00"}, "starts_at", "ISO 8601"),
    ({"ends_at": "0001-01-01T00:00:00+01:00"}, "ends_at", "ISO 8601"),
    ({"ends_at": "2026-12-03T11:00:00Z"}, "ends_at", "in the future"),
    ({"ends_at": "2026-12-03T12:00:00Z"}, "ends_at", "in the future"),
    ({"starts_at": "2026-12-03T15:00:00Z"}, "ends_at", "after starts_at"),
    ({"ends_at": (NOW + timedelta(days=367)).isoformat()}, "ends_at", "at most 366 days"),
    ({"comment": ""}, "comment", "1 to 1000"),
    ({"comment": "   "}, "comment", "not blank"),
    ({"comment": "c" * 1001}, "comment", "1 to 1000"),
    ({"comment": 7}, "comment", "1 to 1000"),
    ({"created_by": "mallory"}, "created_by", "not a silence field"),
])
def test_bad_bodies_name_the_field(changes, field, message):
    with pytest.raises(silences.SilenceError, match=message) as caught:
        silences.read_fields(BODY | changes, NOW)
    assert caught.value.field == field


@pytest.mark.parametrize("missing", ["matchers", "ends_at", "comment"])
def test_required_fields(missing):
    body = {name: value for name, value in BODY.items() if name != missing}
    with pytest.raises(silences.SilenceError, match=f"{missing} is required") as caught:
        silences.read_fields(body, NOW)
    assert caught.value.field == missing


def test_a_wrong_type_is_named_before_missing_fields():
    with pytest.raises(silences.SilenceError) as caught:
        silences.read_fields({"comment": 7}, NOW)
    assert caught.value.field == "comment"


def window(starts: timedelta, ends: timedelta) -> Silence:
    return Silence(id=1, matchers=BODY["matchers"], starts_at=NOW + starts, ends_at=NOW + ends)


@pytest.mark.parametrize("starts, ends, expected", [
    (HOUR, 2 * HOUR, "pending"),
    (timedelta(microseconds=1), HOUR, "pending"),
    (timedelta(0), HOUR, "active"),  # from starts_at on
    (-HOUR, HOUR, "active"),
    (-HOUR, timedelta(microseconds=1), "active"),
    (-HOUR, timedelta(0), "expired"),  # ends_at itself is already past the silence
    (-2 * HOUR, -HOUR, "expired"),
])
def test_status_over_time(starts, ends, expected):
    assert silences.status(window(starts, ends), NOW) == expected


def test_expiring_an_active_silence_ends_it_now():
    silence = window(-HOUR, HOUR)
    silences.expire(silence, NOW)
    assert (silence.starts_at, silence.ends_at, silences.status(silence, NOW)) == (NOW - HOUR, NOW, "expired")


def test_expiring_a_pending_silence_means_it_never_starts():
    silence = window(HOUR, 2 * HOUR)
    silences.expire(silence, NOW)
    assert (silence.starts_at, silence.ends_at) == (NOW, NOW)
    assert silences.status(silence, NOW) == silences.status(silence, NOW + 2 * HOUR) == "expired"


def test_an_expired_silence_cannot_expire_again():
    silence = window(-2 * HOUR, -HOUR)
    with pytest.raises(silences.SilenceStateError, match="already expired"):
        silences.expire(silence, NOW)
    assert silence.ends_at == NOW - HOUR


def add(session, starts: timedelta, ends: timedelta, host: str = "web-1", created: timedelta = timedelta(0)) -> Silence:
    fields = {"matchers": [matcher("host", "=", host)], "starts_at": NOW + starts, "ends_at": NOW + ends,
              "comment": host}
    silence = silences.create(session, fields, "admin")
    silence.created_at = NOW + created
    session.flush()
    return silence


def test_listing_is_newest_first_and_filtered_as_status_says(db_session):
    expired = add(db_session, -2 * HOUR, -HOUR, created=-2 * HOUR)
    ended_now = add(db_session, -HOUR, timedelta(0), created=-HOUR)
    active = add(db_session, timedelta(0), HOUR, created=timedelta(seconds=1))
    pending = add(db_session, HOUR, 2 * HOUR, created=timedelta(seconds=2))
    assert silences.listing(db_session, NOW) == [pending, active, ended_now, expired]
    assert silences.listing(db_session, NOW, limit=2) == [pending, active]
    for status in silences.STATUSES:
        listed = silences.listing(db_session, NOW, status)
        assert listed and all(silences.status(silence, NOW) == status for silence in listed)
    assert silences.listing(db_session, NOW, "expired") == [ended_now, expired]
    assert silences.active(db_session, NOW) == [active]


def test_as_dict_is_the_silence_body(db_session):
    silence = add(db_session, -HOUR, HOUR)
    assert silences.as_dict(silence, NOW) == {
        "id": silence.id, "matchers": [matcher("host", "=", "web-1")], "starts_at": "2026-12-03T11:00:00+00:00",
        "ends_at": "2026-12-03T13:00:00+00:00", "comment": "web-1", "created_by": "admin",
        "created_at": "2026-12-03T12:00:00+00:00", "status": "active"}


def alert(session, state: str, host: str, silenced: bool = False) -> Alert:
    row = Alert(state=state, severity="critical", labels={"alertname": "High CPU", "host": host}, silenced=silenced)
    session.add(row)
    session.flush()
    return row


def test_apply_turns_the_flag_of_unresolved_instances_only(db_session):
    firing, pending = alert(db_session, "firing", "web-1"), alert(db_session, "pending", "web-1")
    other, resolved = alert(db_session, "firing", "db-1"), alert(db_session, "resolved", "web-1")
    stale = alert(db_session, "nodata", "db-2", silenced=True)  # muted by a silence since gone
    add(db_session, -HOUR, HOUR, "web-1")
    add(db_session, HOUR, 2 * HOUR, "db-1")  # pending: mutes nothing yet
    assert sorted(silences.apply(db_session, NOW), key=lambda row: row.id) == [firing, pending, stale]
    assert (firing.silenced, pending.silenced, other.silenced, resolved.silenced, stale.silenced) == (
        True, True, False, False, False)
    assert silences.apply(db_session, NOW) == []  # nothing left to change


def test_apply_after_expiry_unmutes(db_session):
    firing = alert(db_session, "firing", "web-1")
    silence = add(db_session, -HOUR, HOUR, "web-1")
    silences.apply(db_session, NOW)
    silences.expire(silence, NOW)
    assert silences.apply(db_session, NOW) == [firing] and firing.silenced is False
