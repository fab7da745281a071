"""Every use of eventlet's internals, for the WebSocket transport: on an eventlet upgrade, check this file.

eventlet documents a WebSocket's send(), wait(), close() and environ. The transport needs more: to write a
frame without waiting (the OS socket under the green one, eventlet's frame encoder and send lock), to stop
eventlet from sending a closing frame of its own, and to shrink and then free the HTTP buffers that
eventlet.wsgi keeps for a connection's whole life. `REQUIRED` and `probes()` name what is used, so that the
transport can check a release before it installs (websocket_transport.install). eventlet is imported only
when asked for: this module is imported under gevent and threading too.
"""
PACKAGE = "eventlet"
VERIFIED_VERSION = "0.41."  # the releases whose internals this file was read against and tested with
RELEASE_HTTP_BUFFERS = "pulseboard.release_http_buffers"  # environ key: frees the connection's HTTP buffers
REQUIRED = {
    "RFC6455WebSocket": ("_sendlock", "_pack_message", "websocket_closed", "socket", "version", "environ"),
    "GreenSocket": ("fd", "settimeout", "sendall"),
    "HttpProtocol": ("get_environ", "rbufsize", "wbufsize", "setup"),
}


def probes() -> dict:
    """Real instances of what REQUIRED names: instance attributes exist only once __init__ has run."""
    from eventlet import wsgi
    from eventlet.green import socket
    from eventlet.websocket import RFC6455WebSocket

    server_end, client_end = socket.socketpair()
    try:
        websocket = RFC6455WebSocket(server_end, {}, 13)
    finally:
        server_end.close()
        client_end.close()
    return {"RFC6455WebSocket": websocket, "GreenSocket": server_end, "HttpProtocol": wsgi.HttpProtocol}


def speaks_rfc6455(ws) -> bool:
    # A pre-RFC 6455 (hixie-76) client has no control frames, so no closing frame to end with.
    return ws.version in (8, 13)


def os_socket(ws):
    # eventlet keeps the OS socket under its GreenSocket non-blocking: a send() on it returns at once.
    return ws.socket.fd


def green_socket(ws):
    # eventlet's own socket: its sendall() waits (this greenlet alone) while the client's socket is full.
    return ws.socket


def send_lock(ws):
    # eventlet's own writes (a pong, a closing frame) take this lock; ours take it too, so frames never interleave.
    return ws._sendlock


def frame_encoder(ws):
    """encode(text) -> one frame's bytes (with permessage-deflate when negotiated); control_code=8 frames a close."""
    # eventlet frames a message only inside send(), which writes and waits; the transport writes itself.
    return ws._pack_message


def is_closed(ws) -> bool:
    # True once the client's closing frame was answered, or once we marked it so (mark_closed).
    return ws.websocket_closed


def mark_closed(ws) -> None:
    # eventlet sends no closing frame of its own after this: the transport has sent one, or abandoned the connection.
    ws.websocket_closed = True


def release_http_buffers(ws) -> None:
    """Free the HTTP buffers of this WebSocket's connection, when it was served by http_protocol()'s handler."""
    release = ws.environ.get(RELEASE_HTTP_BUFFERS)
    if release is not None:
        release()


def http_protocol() -> type:
    """eventlet's HTTP handler with smaller buffers, and a way to free them when the connection is upgraded.

    A connection keeps its buffers for its whole life, a WebSocket too, which reads and writes its socket
    directly; eventlet's 8 KB + 16 KB were the largest part of a dashboard's memory. Larger requests and
    responses pass straight through a buffer.
    """
    from eventlet import wsgi

    class CompactHttpProtocol(wsgi.HttpProtocol):
        # Read by eventlet's setup() when it makes the connection's rfile and wfile.
        rbufsize, wbufsize = 2048, 4096

        def get_environ(self):
            # eventlet's hook for the environ it builds; the WebSocket handler finds the release there.
            environ = super().get_environ()
            environ[RELEASE_HTTP_BUFFERS] = self.release_buffers
            return environ

        def release_buffers(self) -> None:
            # A client sends no frame before it has the handshake's answer, so nothing is left unread.
            self.rfile.close()
            self.wfile.close()

    return CompactHttpProtocol
