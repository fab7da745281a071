"""How the server's PostgreSQL connections wait for the database: never past a deadline, and under eventlet
without stopping every other greenlet meanwhile.

This leans on psycopg's internals (Connection.wait, its wait-function protocol, _WaitTimeout): on a psycopg
upgrade, check this file.
"""
import sys
from functools import cache
from time import monotonic

import psycopg
from psycopg import waiting
from psycopg.errors import _WaitTimeout
from psycopg.waiting import READY_R, READY_W, WAIT_R, WAIT_W


class BoundedConnection(psycopg.Connection):
    """A connection that gives up on a database that stops answering after `answer_timeout` seconds.

    The server's statement timeout ends slow statements; this ends the wait when no answer can come at all
    (a dead network, a frozen server), which would otherwise hang a request, and its pooled connection, for good.
    """

    answer_timeout: float | None = None

    def wait(self, gen, interval: float = 0.1, timeout: float | None = None):
        try:
            return wait_function()(gen, self.pgconn.socket, interval=interval, timeout=timeout or self.answer_timeout)
        except _WaitTimeout:
            if timeout is not None:
                raise
            # Halfway through the protocol the connection is unusable: closed, SQLAlchemy discards it.
            self.pgconn.finish()
            raise psycopg.OperationalError(f"the database did not answer within {self.answer_timeout:g} s") from None


def wait_function():
    """psycopg's own choice, except under eventlet, whose patching psycopg does not see (it looks for gevent's):
    its C wait would block the whole process until the database answers."""
    patcher = sys.modules.get("eventlet.patcher")
    return eventlet_wait if patcher and patcher.is_monkey_patched("select") else waiting.wait


def eventlet_wait(gen, fileno: int, interval: float = 0.1, timeout: float | None = None):
    """psycopg's wait protocol for eventlet: ask the kernel whether the socket is ready (never blocks), and only
    when it is not, wait in eventlet's select, which lets other greenlets run.

    Waiting in eventlet's select every time, as psycopg's wait_select would, costs a trip through the hub per
    step: a 500-row executemany took 71-195 ms instead of 10-14 ms; this way, 17 ms.
    """
    deadline = None if timeout is None else monotonic() + timeout
    unpatched, green = selects()
    try:
        wanted = next(gen)
        while True:
            ready = ready_now(unpatched, fileno, wanted)
            if not ready:
                readable, writable, _ = green.select([fileno] if wanted & WAIT_R else [],
                                                     [fileno] if wanted & WAIT_W else [], [], interval)
                ready = (READY_R if readable else 0) | (READY_W if writable else 0)
            wanted = gen.send(ready)
            if deadline is not None and monotonic() >= deadline:
                raise _WaitTimeout("wait timeout expired")
    except StopIteration as finished:
        return finished.value


def ready_now(unpatched, fileno: int, wanted: int) -> int:
    poller = unpatched.poll()
    poller.register(fileno, (unpatched.POLLIN if wanted & WAIT_R else 0) | (unpatched.POLLOUT if wanted & WAIT_W else 0))
    ready = 0
    for _, events in poller.poll(0):
        ready |= (READY_R if events & unpatched.POLLIN else 0) | (READY_W if events & unpatched.POLLOUT else 0)
        if not ready and events & (unpatched.POLLERR | unpatched.POLLHUP | unpatched.POLLNVAL):
            # As psycopg's own poll wait does: nothing it asked for will ever come.
            raise psycopg.OperationalError("connection socket closed")
    return ready


@cache
def selects():
    """The select module as it was before patching (poll, which eventlet's lacks) and eventlet's green one."""
    from eventlet.green import select as green
    from eventlet.patcher import original

    return original("select"), green
