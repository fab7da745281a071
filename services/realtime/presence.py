"""Who is listening: Socket.IO clients per room and SSE streams per channel, in this process."""
import threading
from collections import Counter

ROOMS = ("admin", "metrics", "transactions", "activity", "alerts", "notifications")
# The room that receives each hub channel over Socket.IO.
ROOM_OF_CHANNEL = {"live_update": "admin", "metrics": "metrics", "metric": "metrics", "transaction": "transactions",
                   "activity": "activity", "alert": "alerts", "notification": "notifications",
                   "annotation": "metrics"}  # marks on the time charts, which the metrics room draws
CHANNELS = tuple(ROOM_OF_CHANNEL)


class Presence:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rooms: dict[str, dict[str, int]] = {}  # sid -> room -> seq at the moment of joining
        # Kept alongside, so the broadcaster's once-a-tick question costs the same with 10,000 clients as with 1.
        self._members: Counter = Counter()  # room -> sockets in it
        self._streams: Counter = Counter()  # channel -> open SSE streams
        self._stream_count = 0

    def connect(self, sid: str) -> None:
        with self._lock:
            self._rooms.setdefault(sid, {})

    def disconnect(self, sid: str) -> None:
        with self._lock:
            self._members.subtract(self._rooms.pop(sid, {}).keys())

    def join(self, sid: str, room: str, seq: int) -> None:
        with self._lock:
            rooms = self._rooms.setdefault(sid, {})
            self._members[room] += room not in rooms
            rooms[room] = seq

    def leave(self, sid: str, room: str) -> None:
        with self._lock:
            if self._rooms.get(sid, {}).pop(room, None) is not None:
                self._members[room] -= 1

    def sids(self) -> list[str]:
        with self._lock:
            return list(self._rooms)

    def rooms_of(self, sid: str) -> dict[str, int]:
        with self._lock:
            return dict(self._rooms.get(sid, {}))

    def open_stream(self, channels: tuple[str, ...]) -> None:
        with self._lock:
            self._streams.update(channels)
            self._stream_count += 1

    def close_stream(self, channels: tuple[str, ...]) -> None:
        with self._lock:
            self._streams.subtract(channels)
            self._stream_count -= 1

    def listening(self, channel: str) -> bool:
        """Anyone here who would receive `channel`: a socket in its room or an SSE stream asking for it."""
        room = ROOM_OF_CHANNEL[channel]
        with self._lock:
            return self._streams[channel] > 0 or self._members[room] > 0

    def counts(self) -> dict:
        with self._lock:
            return {"sockets": len(self._rooms), "streams": self._stream_count,
                    "rooms": {room: count for room, count in self._members.items() if count > 0}}
