"""The event hub, the Socket.IO fan-out and SSE frames, with a controllable clock and a recording emitter."""
import json
import threading

import pytest

from services.realtime.fanout import Backlog, Fanout
from services.realtime.hub import Cursor, EventHub, merged_payload, parse_cursor
from services.realtime.presence import Presence
from services.realtime.streams import sse_frames
from tests.fakes import FakeClock


def test_every_message_gets_the_next_seq_and_a_timestamp():
    hub = EventHub(clock=FakeClock(1_700_000_000.0))
    first, second = hub.publish("transaction", [{"id": 1}]), hub.publish("activity", [{"a": 1}])
    assert (first.seq, second.seq) == (1, 2)
    assert first.ts == "2023-11-14T22:13:20+00:00"
    assert hub.publish("transaction", []) is None and hub.latest_seq == 2


def test_big_batches_are_cut_and_marked():
    hub = EventHub(max_items=3)
    message = hub.publish("metric", [{"n": n} for n in range(5)])
    assert message.items == [{"n": 2}, {"n": 3}, {"n": 4}] and message.truncated


@pytest.mark.parametrize("cursor, expected, missing", [(0, [3, 4, 5], True), (2, [3, 4, 5], False),
                                                       (4, [5], False), (5, [], False), (9, [], True)])
def test_since_reads_after_a_cursor_and_says_when_messages_are_gone(cursor, expected, missing):
    hub = EventHub(buffer_size=3)
    for n in range(5):
        hub.publish("activity", [{"n": n}])
    messages, gone = hub.since(cursor)
    assert [message.seq for message in messages] == expected and gone is missing


def test_messages_expire_by_age():
    clock = FakeClock()
    hub = EventHub(max_age=10, clock=clock)
    hub.publish("activity", [{"n": 1}])
    clock.now += 11
    hub.publish("activity", [{"n": 2}])
    messages, gone = hub.since(0)
    assert [message.seq for message in messages] == [2] and gone


def test_wait_returns_when_a_message_arrives():
    hub = EventHub()
    threading.Timer(0.05, lambda: hub.publish("alert", [{"id": 1}])).start()
    assert hub.wait(0, timeout=5) is True
    assert hub.wait(1, timeout=0.01) is False


def test_sse_frame_is_encoded_once_with_id_and_event():
    message = EventHub(epoch="e1").publish("transaction", [{"id": "t-1"}])
    frame = message.sse_frame()
    assert frame.startswith("id: e1:1\nevent: transaction\ndata: ") and frame.endswith("\n\n")
    assert json.loads(frame.split("data: ", 1)[1]) == message.payload()
    assert message.sse_frame() is frame


def test_merged_payload_covers_a_seq_range():
    hub = EventHub()
    messages = [hub.publish("transaction", [{"id": n}]) for n in range(3)]
    assert merged_payload(messages, 10) == {"seq": 3, "first_seq": 1, "ts": messages[-1].ts,
                                            "items": [{"id": 0}, {"id": 1}, {"id": 2}], "truncated": False}
    assert merged_payload(messages, 2)["truncated"] is True


class Recorder:
    """Stands in for Socket.IO's emit and enter_room: records who would have received what."""

    def __init__(self, presence: Presence):
        self.sent, self.presence, self.rooms = [], presence, {}

    def emit(self, event, data, to):
        self.sent.append((event, data, to))

    def enter_room(self, sid, room):
        self.rooms.setdefault(sid, set()).add(room)


def fanout_on(hub: EventHub) -> Fanout:
    presence = Presence()
    recorder = Recorder(presence)
    fan = Fanout(hub, presence, recorder.emit, recorder.enter_room, sleep=lambda _: None)
    fan.recorder = recorder
    return fan


@pytest.fixture
def fanout():
    return fanout_on(EventHub())


def test_a_burst_goes_out_as_one_push_per_channel(fanout):
    for n in range(5):
        fanout.hub.publish("transaction", [{"id": n}])
    fanout.hub.publish("activity", [{"a": 1}])
    fanout.round()
    sent = {(event, to): data for event, data, to in fanout.recorder.sent}
    assert set(sent) == {("transaction", "transactions"), ("activity", "activity")}
    assert (sent[("transaction", "transactions")]["first_seq"], sent[("transaction", "transactions")]["seq"]) == (1, 5)
    assert len(sent[("transaction", "transactions")]["items"]) == 5
    fanout.round()
    assert len(fanout.recorder.sent) == 2


def test_resume_replays_missed_messages_of_the_rooms_once_in_order_then_joins(fanout):
    for n in range(3):
        fanout.hub.publish("transaction", [{"id": n}])
        fanout.hub.publish("activity", [{"id": n}])
    fanout.round()
    fanout.recorder.sent.clear()
    fanout.request_resume("sid-1", since=Cursor(2, fanout.hub.epoch), join=("transactions",))
    fanout.round()
    replayed = [(event, data["seq"], to) for event, data, to in fanout.recorder.sent]
    assert replayed == [("transaction", 3, "sid-1"), ("transaction", 5, "sid-1")]
    assert fanout.recorder.rooms == {"sid-1": {"transactions"}}
    assert fanout.presence.rooms_of("sid-1") == {"transactions": 6}


def test_resume_for_a_room_already_joined_skips_what_arrived_live(fanout):
    fanout.presence.join("sid-1", "activity", seq=2)
    for n in range(4):
        fanout.hub.publish("activity", [{"id": n}])
    fanout.round()
    fanout.recorder.sent.clear()
    fanout.request_resume("sid-1", since=Cursor(0), join=())
    fanout.round()
    assert [data["seq"] for _, data, _ in fanout.recorder.sent] == [1, 2]


def test_resume_from_beyond_the_buffer_asks_for_a_resync():
    fanout = fanout_on(EventHub(buffer_size=2))
    for n in range(5):
        fanout.hub.publish("activity", [{"id": n}])
    fanout.request_resume("sid-1", since=Cursor(1), join=("activity",))
    fanout.round()
    resyncs = [data for event, data, to in fanout.recorder.sent if event == "resync"]
    assert resyncs and "no longer buffered" in resyncs[0]["reason"]
    assert fanout.recorder.rooms == {"sid-1": {"activity"}}


def test_sse_frames_replay_filter_and_heartbeat():
    hub, presence = EventHub(), Presence()
    hub.publish("transaction", [{"id": 1}])
    hub.publish("activity", [{"id": 2}])
    hub.publish("transaction", [{"id": 3}])
    frames = sse_frames(hub, presence, ("transaction",), since=Cursor(1), heartbeat=0.01)
    assert next(frames).startswith("retry: 3000\n")
    assert presence.listening("transaction") and not presence.listening("activity")
    chunk = next(frames)
    assert chunk.startswith(f"id: {hub.epoch}:3\nevent: transaction\n") and chunk.count("event: ") == 1
    assert next(frames) == ": heartbeat\n\n"
    frames.close()
    assert not presence.listening("transaction")


def test_sse_frames_tell_a_stale_cursor_to_resync():
    hub = EventHub(buffer_size=1, epoch="e1")
    for n in range(3):
        hub.publish("activity", [{"id": n}])
    frames = sse_frames(hub, Presence(), ("activity",), since=Cursor(0, "e1"), heartbeat=0.01)
    next(frames)
    assert next(frames) == ('id: e1:3\nevent: resync\ndata: {"reason": "messages after seq 0 are no longer buffered", '
                            '"epoch": "e1", "seq": 3}\n\n')


def test_each_hub_starts_a_stream_of_its_own_epoch():
    first, second = EventHub(), EventHub()
    assert first.epoch != second.epoch and len(first.epoch) >= 12
    assert parse_cursor(f"{first.epoch}:5") == Cursor(5, first.epoch)


@pytest.mark.parametrize("text, cursor", [("e1:5", Cursor(5, "e1")), ("5", Cursor(5)), ("0", Cursor(0)),
                                          ("a-b_C9:007", Cursor(7, "a-b_C9")), ("x:y:5", None), (":5", None),
                                          ("e1:", None), ("e1:-1", None), ("e1:5.0", None), ("²", None),
                                          ("9" * 5000, None), (str(2**63), None), (f"e1:{2**63 - 1}", Cursor(2**63 - 1, "e1")),
                                          ("e 1:5", None), ("e" * 65 + ":5", None), ("", None)])
def test_cursors_parse_from_sse_event_ids_old_and_new(text, cursor):
    assert parse_cursor(text) == cursor
    if cursor is not None:
        assert parse_cursor(str(cursor)) == cursor


def test_a_cursor_of_another_epoch_is_gone_even_where_its_seq_fits():
    hub = EventHub(epoch="new")
    for n in range(5):
        hub.publish("activity", [{"n": n}])
    assert hub.since(2, "old") == ([], True)
    assert [message.seq for message in hub.since(2, "new")[0]] == [3, 4, 5]
    assert [message.seq for message in hub.since(2)[0]] == [3, 4, 5]  # an old client's bare seq, as before epochs
    assert hub.since(9) == ([], True)


@pytest.mark.parametrize("cursor, reason", [(Cursor(2, "old"), "the stream restarted: epoch old ended"),
                                            (Cursor(9), "seq 9 is ahead of this stream"),
                                            (Cursor(9, "new"), "seq 9 is ahead of this stream"),
                                            (Cursor(0, "new"), "messages after seq 0 are no longer buffered")])
def test_resync_says_why_and_where_the_client_carries_on(cursor, reason):
    hub = EventHub(buffer_size=2, epoch="new")
    for n in range(5):
        hub.publish("activity", [{"n": n}])
    body = hub.resync(cursor, resume_at=5)
    assert body["reason"].startswith(reason) and (body["epoch"], body["seq"]) == ("new", 5)


def test_sse_frames_after_a_restart_resync_once_then_number_from_the_new_stream():
    hub = EventHub(epoch="new")
    hub.publish("transaction", [{"id": 1}])
    frames = sse_frames(hub, Presence(), ("transaction",), since=Cursor(40, "old"), heartbeat=5)
    assert next(frames) == "retry: 3000\n\n"  # no id: the client's own stays until the resync replaces it
    resync = next(frames)
    assert resync.startswith("id: new:1\nevent: resync\n") and '"epoch": "new", "seq": 1' in resync
    hub.publish("transaction", [{"id": 2}])
    assert next(frames).startswith("id: new:2\nevent: transaction\n")
    frames.close()


def test_sse_frames_of_a_live_start_name_the_epoch_and_seq_they_start_at():
    hub = EventHub(epoch="e1")
    hub.publish("transaction", [{"id": 1}])
    frames = sse_frames(hub, Presence(), ("transaction",), since=None, heartbeat=5)
    assert next(frames) == "retry: 3000\nid: e1:1\n\n"
    frames.close()


def test_resume_from_another_epoch_resyncs_to_the_live_cursor_and_joins(fanout):
    for n in range(3):
        fanout.hub.publish("transaction", [{"id": n}])
    fanout.round()
    fanout.recorder.sent.clear()
    fanout.request_resume("sid-1", since=Cursor(1, "an-earlier-process"), join=("transactions",))
    fanout.round()
    [(event, body, to)] = fanout.recorder.sent
    assert (event, to, body["epoch"], body["seq"]) == ("resync", "sid-1", fanout.hub.epoch, 3)
    assert "restarted" in body["reason"]
    assert fanout.presence.rooms_of("sid-1") == {"transactions": 3}
    fanout.hub.publish("transaction", [{"id": "live"}])
    fanout.round()
    assert [(event, data["seq"], to) for event, data, to in fanout.recorder.sent[1:]] == [("transaction", 4, "transactions")]


def test_pushes_of_one_round_leave_in_order_of_their_last_seq(fanout):
    for channel in ("transaction", "activity", "transaction", "metrics", "activity"):
        fanout.hub.publish(channel, [{}])
    fanout.round()
    assert [(event, data["first_seq"], data["seq"]) for event, data, _ in fanout.recorder.sent] == [
        ("transaction", 1, 3), ("metrics", 4, 4), ("activity", 2, 5)]


def test_clients_whose_backlog_overflows_in_pushes_or_bytes_are_evicted_to_resume():
    hub, presence, clock = EventHub(), Presence(), FakeClock()
    backlogs = {"fast": Backlog(3, 900), "many": Backlog(1001, 50_000), "big": Backlog(20, 2_000_001),
                "at-limit": Backlog(1000, 2_000_000), "upstream": Backlog(999, 0)}
    evicted = []
    for sid in backlogs:
        presence.join(sid, "transactions", seq=0)
    fan = Fanout(hub, presence, emit=lambda *a, **k: None, enter_room=lambda sid, room: None, sleep=lambda _: None,
                 backlog=backlogs.get, evict=evicted.append, max_backlog=Backlog(1000, 2_000_000), clock=clock)
    assert sorted(fan.evict_slow_clients()) == ["big", "many"]
    assert sorted(evicted) == ["big", "many"] and sorted(presence.sids()) == ["at-limit", "fast", "upstream"]
