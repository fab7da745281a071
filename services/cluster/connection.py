"""The one way a process connects to the cluster's Redis, and the key names every cluster module shares."""
from redis import Redis
from redis.backoff import EqualJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

# What "Redis is unreachable" looks like to a caller; anything else from Redis is a bug worth a traceback.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
# The delays between retries, for a call and for a loop that reconnects (BACKOFF.compute(failures)).
BACKOFF = EqualJitterBackoff(cap=1.0, base=0.05)


def connect(url: str, timeout: float = 1.0) -> Redis:
    """A client that fails fast while Redis is away and retries a dropped call a few times with jittered backoff.

    Short timeouts: a process must keep serving its own clients while Redis is gone, so no call may hang
    on it; the jitter keeps a cluster's processes from reconnecting in step when Redis returns.
    """
    return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=10,
                          retry=Retry(BACKOFF, retries=2),
                          retry_on_error=[RedisConnectionError, RedisTimeoutError])


def key(cluster: str, *parts: str) -> str:
    """`<cluster>:<part>:…` — every key and pub/sub channel of one cluster starts with its name."""
    return ":".join((cluster, *parts))
