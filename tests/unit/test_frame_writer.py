"""FrameWriter on a real socket pair under eventlet: a full socket never blocks the sender, frames stay whole
and in order, a closed connection drops its backlog."""
import socket
import struct

import eventlet
import pytest
from eventlet.green import socket as green_socket
from eventlet.websocket import RFC6455WebSocket

from services.realtime.websocket_transport import FrameWriter, frames_within

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


def written(ws, count: int) -> tuple[FrameWriter, list[str]]:
    """A FrameWriter that was given `count` messages of 1.5 KB, and those messages."""
    frames = FrameWriter(ws, eventlet.spawn, eventlet.sleep)
    sent = messages(count)
    for text in sent:
        frames.write(text)
    return frames, sent


def test_a_full_socket_does_not_block_the_sender_and_every_frame_arrives_whole_in_order(pair):
    ws, client = pair
    with eventlet.Timeout(5, AssertionError("a write waited for the client")):
        frames, sent = written(ws, 200)  # about 300 KB, far beyond both buffers
    assert frames.draining and frames.backlog, "the socket should have filled up"

    received = [read_frame(client) for _ in sent]
    assert [opcode for opcode, _ in received] == [1] * len(sent)
    assert [payload.decode() for _, payload in received] == sent
    eventlet.sleep(0)
    assert not frames.backlog and not frames.draining


def test_close_sends_the_closing_frame_after_the_backlog_then_ends_the_connection(pair):
    ws, client = pair
    frames, sent = written(ws, 50)
    frames.close()
    frames.write("4 written after close")  # dropped: the connection is closing

    assert [payload.decode() for _, payload in (read_frame(client) for _ in sent)] == sent
    assert read_frame(client) == (8, b"")
    assert client.recv(1) == b""


def test_a_client_that_went_away_loses_its_backlog_and_nothing_blocks(pair):
    ws, client = pair
    frames, _ = written(ws, 50)
    client.close()
    with eventlet.Timeout(5, AssertionError("the writer kept waiting for a closed client")):
        while frames.draining:
            eventlet.sleep(0.01)
        frames.write("4 one more")
    assert frames.closing and frames.backlog == []


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (clients must mask; a zero key leaves the payload as it is)."""
    return bytes((0x80 | opcode, 0x80 | len(payload))) + b"\0\0\0\0" + payload


def test_a_websocket_ping_is_answered_while_a_backlog_drains_not_after_it(pair):
    ws, client = pair
    reader = eventlet.spawn(ws.wait)  # the server's reader: answers pings with pongs, through the same lock
    frames, sent = written(ws, 600)  # about 900 KB: many chunks of DRAIN_CHUNK_BYTES
    client.sendall(masked_frame(0x9, b"are you there"))

    received = []
    while len(received) < len(sent) + 1:
        received.append(read_frame(client))
    pong_at = received.index((0xA, b"are you there"))
    assert pong_at < len(sent) // 2, f"the pong waited for {pong_at} data frames"
    assert [payload.decode() for opcode, payload in received if opcode == 1] == sent
    reader.kill()


def test_abandon_drops_the_backlog_and_ends_the_connection(pair):
    ws, client = pair
    frames, sent = written(ws, 200)
    frames.abandon()
    assert frames.backlog == [] and frames.closing

    received = b""
    with eventlet.Timeout(5, AssertionError("the connection did not end")):
        while chunk := client.recv(65536):
            received += chunk
    assert 0 < len(received) < sum(len(text) for text in sent)


def test_frames_within_takes_whole_frames_and_at_least_one():
    assert frames_within([b"a" * 10, b"b" * 10, b"c" * 10], 25) == 2
    assert frames_within([b"a" * 100, b"b"], 25) == 1
    assert frames_within([b"a", b"b"], 25) == 2
