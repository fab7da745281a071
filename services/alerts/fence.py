"""The alert evaluator's fence: in a cluster, each pass's writes carry the leader lease's fencing token, and the
database refuses a pass whose token is older than one already written (a leader paused past its lease).

The token lives in one row of `leader_fences`. A pass claims it first in its write stretch; the row lock
(PostgreSQL) or the writer lock (SQLite) the claim takes holds another leader's write stretch until this one's
transaction ends, so each loads what the other committed. Redis keeps nothing on disk here, so its counter can
restart below the row's token: the holder then raises its token above it, which a leader that lost the lease
cannot do, and the cluster heals by itself.
"""
import logging
from collections.abc import Callable

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from database import LeaderFence

log = logging.getLogger(__name__)

FENCE = "alert_evaluator"  # the evaluator's row in leader_fences
CLAIM_FENCE = text("UPDATE leader_fences SET token = :token WHERE name = :name AND token <= :token")
ADD_FENCE = text("INSERT INTO leader_fences (name, token) VALUES (:name, :token) ON CONFLICT (name) DO NOTHING")


class Fence:
    """A cluster leader's side of the fence: its lease's fencing token (None while not leading), and a way to raise
    that token above a floor while it still holds the lease (None once it does not)."""

    def __init__(self, token: Callable[[], int | None], raise_above: Callable[[int], int | None]) -> None:
        self.token, self.raise_above = token, raise_above
        self.checked: int | None = None  # the last token found above the row's: the row is read once per holding

    def for_pass(self, session: Session) -> int | None:
        """The fencing token this pass carries; None while not leading. At a holding's first pass it is compared with
        the fence row: a token not above the row's (Redis restarted, or failed over to a replica behind, and counts
        from 1 again) is raised above it."""
        token = self.token()
        if token is None or token == self.checked:
            return token
        floor = stored(session)
        if floor is not None and token <= floor:
            raised = self.raise_above(floor)
            if raised is None:
                log.warning("alert pass refused: its fencing token %s is not above %s, with which a leader has written, "
                            "and could not be raised (this process lost the lease, or Redis did not answer)", token, floor)
                return None
            log.warning("fence counter behind the database: raised from %s to %s", token, raised)
            token = raised
        self.checked = token
        return token

    def recheck(self) -> None:
        """The database refused this token: the next pass reads the row again (and raises, if it still leads)."""
        self.checked = None


def claim(session: Session, token: int) -> bool:
    """Write this leader's fencing token into the evaluator's fence row, first in the write stretch; False when the
    row holds a newer one, i.e. a newer leader has written and this pass comes too late."""
    values = {"name": FENCE, "token": token}
    if session.execute(CLAIM_FENCE, values).rowcount:
        return True
    session.execute(ADD_FENCE, values)  # the database's first fenced pass; if another leader inserts first, the claim decides
    if session.execute(CLAIM_FENCE, values).rowcount:
        return True
    log.warning("alert pass refused: its fencing token %s is older than %s, with which a newer leader has written "
                "(this process lost the lease; if it still leads, Redis lost the counter and its next pass raises it)",
                token, stored(session))
    return False


def stored(session: Session) -> int | None:
    """The newest fencing token the evaluator's writes have carried; None before the first fenced pass."""
    return session.scalar(select(LeaderFence.token).where(LeaderFence.name == FENCE))
