"""FrameWriter on a real socket pair under eventlet: a full socket never blocks the sender, frames stay whole
and in order, a closed connection drops its backlog."""
import socket
import struct
from importlib.metadata import version

import eventlet
import pytest
from eventlet.green import socket as green_socket
from eventlet.websocket import RFC6455WebSocket

from services.websocket_transport import VERIFIED_VERSION, FrameWriter

SMALL_BUFFER = 4096


@pytest.fixture
def pair():
    """(server's WebSocket, client's end) with small kernel buffers, so a few frames fill them."""
    server_end, client_end = green_socket.socketpair()
    server_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
    client_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    yield RFC6455WebSocket(server_end, {}, 13), client_end
    server_end.close()
    client_end.close()


def read_exactly(sock, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError(f"connection ended after {len(data)} of {size} bytes")
        data += chunk
    return data


def read_frame(sock) -> tuple[int, bytes]:
    """(opcode, payload) of one unmasked server frame."""
    first, second = read_exactly(sock, 2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", read_exactly(sock, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", read_exactly(sock, 8))[0]
    return first & 0x0F, read_exactly(sock, size)


def messages(count: int) -> list[str]:
    return [f"4[\"notification\",{{\"n\":{index}}}]" + "x" * 1500 for index in range(count)]


def test_a_full_socket_does_not_block_the_sender_and_every_frame_arrives_whole_in_order(pair):
    ws, client = pair
    frames = FrameWriter(ws, eventlet.spawn)
    sent = messages(200)  # about 300 KB, far beyond both buffers
    with eventlet.Timeout(5, AssertionError("a write waited for the client")):
        for text in sent:
            frames.write(text)
    assert frames.draining and frames.backlog, "the socket should have filled up"

    received = [read_frame(client) for _ in sent]
    assert [opcode for opcode, _ in received] == [1] * len(sent)
    assert [payload.decode() for _, payload in received] == sent
    eventlet.sleep(0)
    assert not frames.backlog and not frames.draining


def test_close_sends_the_closing_frame_after_the_backlog_then_ends_the_connection(pair):
    ws, client = pair
    frames = FrameWriter(ws, eventlet.spawn)
    sent = messages(50)
    for text in sent:
        frames.write(text)
    frames.close()
    frames.write("4 written after close")  # dropped: the connection is closing

    assert [payload.decode() for _, payload in (read_frame(client) for _ in sent)] == sent
    assert read_frame(client) == (8, b"")
    assert client.recv(1) == b""


def test_a_client_that_went_away_loses_its_backlog_and_nothing_blocks(pair):
    ws, client = pair
    frames = FrameWriter(ws, eventlet.spawn)
    for text in messages(50):
        frames.write(text)
    client.close()
    with eventlet.Timeout(5, AssertionError("the writer kept waiting for a closed client")):
        while frames.draining:
            eventlet.sleep(0.01)
        frames.write("4 one more")
    assert frames.closing and frames.backlog == []


def test_the_pinned_python_engineio_is_the_version_the_transport_was_verified_with():
    # install() leaves any other version alone; a new release needs these replacements checked against it
    assert version("python-engineio").startswith(VERIFIED_VERSION)
