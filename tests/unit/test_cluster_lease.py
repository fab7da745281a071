"""The leader lease on a real Redis: one holder, compare-token renew and release, fencing tokens, takeover."""
import time

from services.cluster.connection import connect
from services.cluster.lease import Lease, holder_name
from tests.tcp_proxy import TcpProxy

OWNER = "test-host:1"


class Clock:
    """Each lease's local clock, moved by the test: pauses and deadlines without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_only_one_of_two_holds_and_the_fence_grows_per_acquisition(redis, cluster_name):
    first, second = Lease(redis, cluster_name, "leader", OWNER), Lease(redis, cluster_name, "leader", OWNER)
    assert first.refresh() and first.held()
    assert not second.refresh() and not second.held()
    assert first.fence == 1 and second.fence is None
    assert first.refresh() and first.fence == 1  # a renewal is no new acquisition
    assert holder_name(redis.get(first.key).decode()) == OWNER
    first.release()
    assert not first.held() and redis.get(first.key) is None
    assert second.refresh() and second.fence == 2
    assert int(redis.get(second.fence_key)) == 2


def test_renew_and_release_with_another_token_are_refused(redis, cluster_name):
    holder, other = Lease(redis, cluster_name, "leader", OWNER), Lease(redis, cluster_name, "leader", OWNER)
    holder.refresh()
    other.fence = 99  # as if other believed it held the lease: its renewal must still fail on the token
    assert not other.refresh() and other.fence is None
    other.release()
    assert redis.get(holder.key).decode() == holder.token
    assert holder.refresh() and holder.fence == 1


def test_a_holder_that_stops_renewing_is_taken_over_after_the_ttl(redis, cluster_name):
    clock = Clock()
    holder = Lease(redis, cluster_name, "leader", OWNER, ttl=0.5, clock=clock)
    waiting = Lease(redis, cluster_name, "leader", OWNER, ttl=0.5)
    holder.refresh()
    assert not waiting.refresh()
    clock.now += 0.5  # the holder paused past its ttl: it stops leader work before Redis lets anyone else in
    assert not holder.held()
    deadline = time.monotonic() + 5
    while not waiting.refresh():
        assert time.monotonic() < deadline, "the lease was never taken over"
        time.sleep(0.05)
    assert waiting.fence == holder.fence + 1
    assert not holder.refresh() and holder.fence is None  # back from its pause, it finds the lease taken


def test_the_holder_steps_down_by_its_own_deadline_while_redis_is_away(redis, cluster_name):
    clock = Clock()
    with TcpProxy(("127.0.0.1", redis.connection_pool.connection_kwargs["port"])) as proxy:
        through_proxy = connect(f"redis://127.0.0.1:{proxy.port}/0", timeout=0.2)
        holder = Lease(through_proxy, cluster_name, "leader", OWNER, ttl=5, clock=clock)
        assert holder.refresh()
        proxy.cut()
        clock.now += 4.4
        assert holder.refresh() and holder.held()  # the renewal failed; the last good one's deadline is ahead
        clock.now += 0.2
        assert not holder.refresh() and not holder.held()
        through_proxy.close()


def test_the_holder_raises_its_fencing_token_above_a_floor(redis, cluster_name):
    holder = Lease(redis, cluster_name, "leader", OWNER)
    assert holder.refresh() and holder.fence == 1  # a fresh counter, as after a Redis restart without persistence
    assert holder.raise_fence_above(57) == 58 and holder.fence == 58
    assert int(redis.get(holder.fence_key)) == 58
    assert holder.refresh() and holder.held() and holder.fence == 58  # renewed with the raised token
    assert holder.raise_fence_above(3) == 59  # a floor below the token still moves it: a new token for the holding
    holder.release()
    successor = Lease(redis, cluster_name, "leader", OWNER)
    assert successor.refresh() and successor.fence == 60  # the counter moved with the token


def test_a_process_that_does_not_hold_the_lease_cannot_raise_the_token(redis, cluster_name):
    holder, other = Lease(redis, cluster_name, "leader", OWNER), Lease(redis, cluster_name, "leader", OWNER)
    assert holder.refresh()
    assert other.raise_fence_above(57) is None  # never held it
    other.fence = 1  # as if it had held the lease with token 1 (a leader paused past its lease): the token decides
    assert other.raise_fence_above(57) is None and other.fence is None  # and it steps down
    assert int(redis.get(holder.fence_key)) == 1 and holder.fence == 1


def test_only_the_holding_that_got_the_token_can_raise_it(redis, cluster_name):
    lease = Lease(redis, cluster_name, "leader", OWNER)
    assert lease.refresh() and lease.fence == 1
    lease.release()
    assert lease.refresh() and lease.fence == 2  # the same process's next holding: same lease token, new fence
    lease.fence = 1  # the earlier holding's token: its lease token matches, but the counter has moved past it
    assert lease.raise_fence_above(57) is None and int(redis.get(lease.fence_key)) == 2
