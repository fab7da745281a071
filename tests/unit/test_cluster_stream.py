"""The cluster_name's stream on a real Redis, without a server: numbering across publishers, the epoch, trimming, the
fence, replay from Redis, resync after lost history, and falling back to local numbering while Redis is away."""
import threading
import time

import pytest

from services.cluster.connection import connect
from services.cluster.stream import CLUSTER, LOCAL, ClusterStream, publishing_client
from services.realtime.fanout import Fanout
from services.realtime.hub import Cursor, EventHub, Message
from services.realtime.presence import Presence
from services.realtime.streams import sse_frames
from tests.servers import REDIS_ADDRESS, REDIS_URL
from tests.tcp_proxy import TcpProxy
from tests.unit.test_hub import Recorder


@pytest.fixture
def streams(cluster_name):
    """Make ClusterStreams of the test's cluster_name (as separate processes would hold them); their tails stop after."""
    made = []

    def make(url: str = REDIS_URL, buffer_size: int = 1000, max_age: float = 300.0, joined: bool = True):
        stream = ClusterStream(publishing_client(url), connect(url, timeout=2.0), cluster_name, EventHub(buffer_size, max_age))
        if joined:
            stream.join()
        made.append(stream)
        return stream

    yield make
    for stream in made:
        stream.stop()


def tail(stream: ClusterStream) -> threading.Thread:
    thread = threading.Thread(target=stream.follow, daemon=True)
    thread.start()
    return thread


def wait_until(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return value


def catch_up(stream: ClusterStream) -> None:
    """Copy what the cluster_name's stream holds beyond this copy (as the tail does)."""
    stream.read_new()


def test_two_publishers_number_one_sequence_and_every_reader_sees_it_in_order(streams):
    first, second = streams(), streams()
    published = [(first if n % 2 else second).publish("transaction", [{"id": n}]) for n in range(20)]
    assert [message.seq for message in published] == list(range(1, 21))
    assert {message.epoch for message in published} == {first.epoch} == {second.epoch}
    for reader in (first, second):
        catch_up(reader)
        messages, missing = reader.since(0, reader.epoch)
        assert not missing and [message.items[0]["id"] for message in messages] == list(range(20))


def test_the_epoch_is_created_once_and_kept_until_the_history_is_lost(streams, redis, cluster_name):
    first = streams()
    kept = streams()
    assert first.epoch == kept.epoch
    assert first.publish("activity", [{"n": 1}]).seq == 1
    redis.delete(first.state_key)  # Redis restarted with nothing on disk
    renewed = first.publish("activity", [{"n": 2}])
    assert renewed.epoch != kept.epoch and renewed.seq == 1
    assert redis.xlen(first.stream_key) == 1  # the old numbering's entries went with it


def test_a_reader_of_the_lost_epoch_is_told_to_resync(streams, redis):
    stream = streams()
    stream.publish("activity", [{"n": 1}])
    catch_up(stream)
    ended = stream.epoch
    redis.delete(stream.state_key)
    stream.publish("activity", [{"n": 2}])
    catch_up(stream)
    messages, missing = stream.since(1, ended)
    assert missing and messages == []
    resync = stream.resync(Cursor(1, ended), stream.latest_seq)
    assert resync["epoch"] == stream.epoch != ended and "restarted" in resync["reason"]


def test_the_stream_is_trimmed_by_length(streams, redis):
    stream = streams(buffer_size=50)
    for n in range(400):
        stream.publish("metric", [{"n": n}])
    # MAXLEN ~ trims whole nodes of up to 100 entries: approximately, and cheaply.
    assert redis.xlen(stream.stream_key) <= 150


def test_the_stream_is_trimmed_by_age(streams, redis):
    stream = streams(max_age=0.2)
    for n in range(150):
        stream.publish("metric", [{"n": n}])
    time.sleep(0.3)
    stream.publish("metric", [{"n": "late"}])
    assert redis.xlen(stream.stream_key) <= 51  # the first full node of old entries is gone


def test_a_fenced_publish_is_refused_unless_the_fence_holds_its_token(streams, redis, cluster_name):
    stream = streams()
    fence = f"{cluster_name}:lease:live_update:fence"
    assert stream.publish("live_update", [{"kpis": {}}], fence=(fence, 3)) is None
    redis.set(fence, 4)
    assert stream.publish("live_update", [{"kpis": {}}], fence=(fence, 3)) is None
    assert stream.publish("live_update", [{"kpis": {}}], fence=(fence, 4)).seq == 1
    assert redis.xlen(stream.stream_key) == 1


def test_a_cursor_older_than_this_process_is_replayed_from_redis(streams):
    earlier = streams()
    for n in range(5):
        earlier.publish("transaction", [{"id": n}])
    late = streams()  # a process that started after those five
    assert late.latest_seq == 5
    messages, missing = late.since(2, late.epoch)
    assert not missing and [message.seq for message in messages] == [3, 4, 5]
    assert [message.items for message in messages] == [[{"id": 2}], [{"id": 3}], [{"id": 4}]]


def test_a_cursor_redis_no_longer_holds_gets_a_resync(streams):
    earlier = streams(buffer_size=10, max_age=0.1)
    for n in range(150):
        earlier.publish("transaction", [{"id": n}])
    time.sleep(0.2)
    earlier.publish("transaction", [{"id": "trims"}])
    late = streams()
    messages, missing = late.since(1, late.epoch)
    assert missing and messages == []


def test_the_tail_copies_other_processes_pushes_here(streams):
    reader, writer = streams(), streams()
    tail(reader)
    writer.publish("alert", [{"id": 1}])
    wait_until(lambda: reader.latest_seq == 1)
    assert reader.since(0, reader.epoch)[0][0].items == [{"id": 1}]


@pytest.mark.parametrize("fault", ["cut", "blackhole"])
def test_without_redis_pushes_are_numbered_here_and_the_tail_rejoins_when_it_returns(streams, redis, fault):
    with TcpProxy(REDIS_ADDRESS) as proxy:
        stream = streams(url=f"redis://127.0.0.1:{proxy.port}/0")
        stream.publish("transaction", [{"id": "before"}])
        cluster_epoch = stream.epoch
        follower = tail(stream)
        wait_until(lambda: stream.latest_seq == 1)
        getattr(proxy, fault)()  # Redis refuses, or stops answering
        during = [stream.publish("transaction", [{"id": n}]) for n in range(3)]  # never raises
        assert stream.state()["mode"] == LOCAL and "Redis unreachable" in stream.state()["degraded"]
        assert [message.seq for message in during] == [1, 2, 3] and stream.epoch != cluster_epoch
        assert [message.seq for message in stream.since(0, stream.epoch)[0]] == [1, 2, 3]
        proxy.restore()
        wait_until(lambda: stream.state()["mode"] == CLUSTER)
        # A publish that timed out in the blackhole lands when it heals: once at most, as it is never resent.
        landed = wait_until(lambda: stream.latest_seq == redis.xlen(stream.stream_key) and stream.latest_seq)
        assert landed == 1 if fault == "cut" else landed in (1, 2)
        assert stream.state() == {"mode": CLUSTER, "epoch": cluster_epoch, "seq": landed, "degraded": None}
        assert stream.publish("transaction", [{"id": "after"}]).seq == landed + 1
        stream.stop()
        follower.join(timeout=5)  # before the proxy goes, so the tail does not meet it gone


def test_a_push_redis_refuses_is_numbered_here_instead_of_failing_the_caller(streams, redis):
    stream = streams()
    cluster_epoch = stream.epoch
    redis.delete(stream.state_key)
    redis.set(stream.state_key, "not a hash")  # the script's HGET fails with WRONGTYPE, as XADD would with OOM
    refused = stream.publish("transaction", [{"id": "after commit"}])  # ingest has committed: it must not raise
    assert refused.seq == 1 and stream.epoch != cluster_epoch
    assert stream.state()["mode"] == LOCAL and "Redis refused a push (ResponseError" in stream.state()["degraded"]


def test_the_fanout_resyncs_its_clients_when_the_stream_changes_epoch():
    hub, presence = EventHub(), Presence()
    recorder = Recorder(presence)
    fanout = Fanout(hub, presence, recorder.emit, recorder.enter_room, sleep=lambda _: None)
    presence.join("sid-1", "transactions", seq=0)
    hub.publish("transaction", [{"id": "old"}])
    fanout.round()
    ended = hub.epoch
    hub.restart("cluster_name-epoch", 40)  # joined a cluster_name's stream at its seq 40
    hub.append(hub_message("cluster_name-epoch", 41))
    fanout.round()
    sent = [(event, data.get("epoch"), data["seq"], to) for event, data, to in recorder.sent[1:]]
    assert sent == [("resync", "cluster_name-epoch", 40, None), ("transaction", None, 41, "transactions")]
    assert "epoch " + ended in recorder.sent[1][1]["reason"]
    assert presence.rooms_of("sid-1") == {"transactions": 40}


def hub_message(epoch: str, seq: int) -> Message:
    return Message(epoch, seq, "transaction", "2026-01-01T00:00:00+00:00", [{"id": seq}], False, time.time())


def test_a_reader_waiting_past_the_old_epochs_seq_wakes_when_the_epoch_changes():
    hub = EventHub()
    for n in range(5):
        hub.publish("activity", [{"n": n}])
    woke = []
    waiter = threading.Thread(target=lambda: woke.append(hub.wait(5, timeout=10)))
    waiter.start()
    time.sleep(0.05)
    hub.restart("local-epoch", 0)
    waiter.join(timeout=5)
    assert woke == [True]


def test_an_sse_stream_resyncs_at_once_when_the_stream_changes_epoch():
    hub = EventHub()
    hub.publish("transaction", [{"id": 1}])
    frames = sse_frames(hub, Presence(), ("transaction",), since=None, heartbeat=30.0)
    next(frames)  # where it starts
    threading.Timer(0.1, hub.restart, ("local-epoch", 0)).start()
    started = time.monotonic()
    resync = next(frames)
    assert resync.startswith("id: local-epoch:0\nevent: resync\n") and time.monotonic() - started < 5
    frames.close()
