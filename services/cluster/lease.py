"""A Redis lease: at most one holder at a time, taken over within a few seconds when its holder dies.

`SET key token NX PX ttl`; renewed and released only by the holder (compare-token scripts), so a process
that lost the lease can never extend or drop its successor's. Every acquisition increments a counter in the
same script: that counter is the fencing token, which the holder's writes carry so that the stores can
refuse the late writes of a holder that was paused past its lease (SIGSTOP, a long GC, a swapped-out VM).
Redis keeps nothing on disk here, so the counter can restart below a token a store already holds; the holder
then raises it above that token (`raise_fence_above`), which a holder that lost the lease cannot do.
"""
import logging
import secrets
import time
from collections.abc import Callable

from redis import Redis
from redis.exceptions import RedisError

from services.cluster.connection import REDIS_DOWN, key

log = logging.getLogger(__name__)

# KEYS: lease, fence; ARGV: token, ttl ms. Returns the new fencing token, or nil when someone holds the lease.
ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false
"""
# KEYS: lease; ARGV: token, ttl ms. 1 when the caller still held the lease and extended it.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS: lease, fence; ARGV: token, the holding's fencing token, floor. The holding's new fencing token, above the
# floor; nil unless the caller still holds the lease with that token (an acquisition since would have moved it).
RAISE_FENCE = """
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then
  local raised = math.max(tonumber(ARGV[2]), tonumber(ARGV[3])) + 1
  redis.call('SET', KEYS[2], raised)
  return raised
end
return false
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# Redis and this process measure the ttl with different clocks; stepping down this share of it early
# covers their drift, so the holder stops before Redis can let another process take over.
DRIFT_SHARE = 0.1


def holder_name(token: str) -> str:
    """The owner (`host:pid`) of a lease token (tokens are `<owner>:<random>`)."""
    return token.rsplit(":", 1)[0]


class Lease:
    """The side of the lease `name` in cluster `cluster` of one process, `owner` (its `host:pid`)."""

    def __init__(self, redis: Redis, cluster: str, name: str, owner: str, ttl: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.redis, self.ttl, self.clock = redis, ttl, clock
        self.key = key(cluster, "lease", name)
        self.fence_key = key(cluster, "lease", name, "fence")
        self.token = f"{owner}:{secrets.token_hex(6)}"  # unique even when a restarted process gets its old pid
        self.fence: int | None = None  # the fencing token of the current holding, None when not holding
        self._deadline = 0.0  # local clock: leader work stops here unless a renewal moves it
        self._acquire = redis.register_script(ACQUIRE)
        self._renew = redis.register_script(RENEW)
        self._release = redis.register_script(RELEASE)
        self._raise_fence = redis.register_script(RAISE_FENCE)

    @property
    def ttl_ms(self) -> int:
        return int(self.ttl * 1000)

    def held(self) -> bool:
        """Whether this process may do the holder's work now: it holds the lease and its local deadline is ahead."""
        return self.fence is not None and self.clock() < self._deadline

    def refresh(self) -> bool:
        """Renew the lease when holding it, else try to take it; returns whether it is held afterwards. Its holder
        calls this every ttl/3, so two renewals can fail before the local deadline stops its work.

        The deadline counts from before the call was sent: Redis starts the ttl when the command arrives, which
        is later, so this side's deadline always falls before the one Redis keeps."""
        sent = self.clock()
        try:
            if self.fence is not None and self._renew(keys=[self.key], args=[self.token, self.ttl_ms]):
                self._extend(sent)
                return True
            fence = self._acquire(keys=[self.key, self.fence_key], args=[self.token, self.ttl_ms])
        except REDIS_DOWN as error:
            # Whether the call reached Redis is unknown; the deadline already set still bounds the holding.
            log.warning("lease %s: Redis unreachable (%s)", self.key, error)
            return self.held()
        if fence is None:
            self._step_down()
            return False
        self.fence = int(fence)
        self._extend(sent)
        log.info("lease %s taken by %s with fencing token %s", self.key, self.token, self.fence)
        return True

    def raise_fence_above(self, floor: int) -> int | None:
        """Make this holding's fencing token larger than `floor` (a token a store holds from before Redis lost the
        counter) and return it; None when this process no longer holds the lease (it steps down) or Redis did not
        answer. The counter moves with the token, so the next acquisition's token is larger still."""
        fence = self.fence
        if fence is None:
            return None
        try:
            raised = self._raise_fence(keys=[self.key, self.fence_key], args=[self.token, fence, floor])
        except (*REDIS_DOWN, RedisError) as error:  # the holding is unproven: the caller tries again later
            log.warning("lease %s: fencing token not raised, Redis failed (%s)", self.key, error)
            return None
        if raised is None:
            if self.fence == fence:  # not when a refresh meanwhile took the lease again, with a new token
                self._step_down()
            return None
        self.fence = int(raised)
        return self.fence

    def release(self) -> None:
        """Give the lease up so another process takes it at once instead of after the ttl."""
        self._step_down()
        try:
            self._release(keys=[self.key], args=[self.token])
        except REDIS_DOWN:
            pass  # it expires by itself

    def _extend(self, sent: float) -> None:
        self._deadline = sent + self.ttl * (1 - DRIFT_SHARE)

    def _step_down(self) -> None:
        if self.fence is not None:
            log.info("lease %s lost by %s", self.key, self.token)
        self.fence, self._deadline = None, 0.0
