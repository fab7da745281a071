"""A TCP proxy that a test controls, to put between a server and its database and then break the link.

`cut()` closes every live connection and closes new ones at once (a database that went away);
`blackhole()` stops moving bytes but keeps every socket open (a network that silently drops packets);
`restore()` forwards again. Bytes held during a blackhole are delivered on restore, as TCP would once a
partition heals.
"""
import socket
import threading

FORWARD, CUT, BLACKHOLE = "forward", "cut", "blackhole"


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.mode = FORWARD
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._running = True
        self._acceptor = threading.Thread(target=self._accept_loop, name="tcp-proxy-accept", daemon=True)
        self._acceptor.start()

    @property
    def connections(self) -> int:
        """Client connections currently open through the proxy."""
        with self._lock:
            return len(self._sockets) // 2

    def cut(self) -> None:
        self.mode = CUT
        self._flowing.set()  # let pumps held by a blackhole see their sockets close
        self._close_all()

    def blackhole(self) -> None:
        self.mode = BLACKHOLE
        self._flowing.clear()

    def restore(self) -> None:
        self.mode = FORWARD
        self._flowing.set()

    def close(self) -> None:
        self._running = False
        self._flowing.set()
        self._acceptor.join(timeout=5)
        self._listener.close()
        self._close_all()

    def __enter__(self) -> "TcpProxy":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while self._running:
            if self.mode == BLACKHOLE:
                # Unaccepted connections wait in the kernel's backlog, handshake done, hearing nothing.
                self._flowing.wait(0.1)
                continue
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            if self.mode == CUT:
                client.close()
                continue
            self._connect(client)

    def _connect(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()
            return
        server.settimeout(None)
        with self._lock:
            self._sockets.update((client, server))
        for source, target in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(source, target), name="tcp-proxy-pump", daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                target.sendall(data)
        except OSError:
            pass
        finally:
            self._forget(source, target)

    def _forget(self, *sockets: socket.socket) -> None:
        with self._lock:
            for sock in sockets:
                self._sockets.discard(sock)
        for sock in sockets:
            _shut(sock)

    def _close_all(self) -> None:
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    # shutdown wakes a pump blocked in recv on this socket; close alone would not.
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
