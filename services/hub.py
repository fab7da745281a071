"""The in-process event hub: publishers hand it what happened; real-time transports subscribe to it."""
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Subscriber = Callable[[str, list[dict]], None]


class EventHub:
    """Delivers each published batch to every subscriber, in publication order."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(subscriber)

    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, channel: str, items: list[dict]) -> None:
        """Hand `items` of `channel` (transaction, activity, metric, ...) to every subscriber."""
        if not items:
            return
        for subscriber in list(self._subscribers):
            try:
                subscriber(channel, items)
            except Exception:  # one broken subscriber must not stop ingest or the others
                log.exception("hub subscriber failed on %s", channel)
