"""The framing between the event loop and the writer process: messages come out
whole and in order however the socket splits the bytes, including frames larger
than the buffer; requests survive encoding unchanged."""

from __future__ import annotations

import socket

from hypothesis import given
from hypothesis import strategies as st

from esdb_emulator.log_ipc import STOP, FrameBuffer, decode_op, encode_op, frame
from esdb_emulator.log_transaction import AppendOp, DeleteOp, TombstoneOp
from esdb_emulator.records import ProposedEvent
from esdb_emulator.writer_process import Link

#: 40 of these (2 MB) arrive over several receives.
BIG_EVENT = ProposedEvent(
    "2b8c4f7e-2f0a-4c39-9d4b-1a2b3c4d5e6f", "Big", "application/octet-stream", b"", b"x" * 50_000
)

messages = st.lists(
    st.one_of(
        st.none(),
        st.binary(max_size=3000),
        st.lists(st.tuples(st.integers(0, 10**9), st.text(max_size=20)), max_size=20),
    ),
    max_size=20,
)


@given(messages=messages, cuts=st.lists(st.integers(1, 5000), max_size=40))
def test_messages_come_out_whole_and_in_order_however_the_bytes_are_split(
    messages: list[object], cuts: list[int]
) -> None:
    stream = b"".join(frame(message) for message in messages)
    buffer = FrameBuffer(capacity=64)  # far smaller than many frames: it must grow
    received: list[object] = []
    offset = 0
    for cut in [*cuts, len(stream)]:
        chunk = stream[offset : offset + cut]
        while chunk:
            space = buffer.space(at_least=1)
            taken = min(len(space), len(chunk))
            space[:taken] = chunk[:taken]
            space.release()
            received += buffer.filled(taken)
            chunk = chunk[taken:]
            offset += taken
        if offset >= len(stream):
            break
    assert received == messages


def test_requests_survive_encoding() -> None:
    events = (
        ProposedEvent(
            "0b8c4f7e-2f0a-4c39-9d4b-1a2b3c4d5e6f",
            "Placed",
            "application/json",
            b'{"m":1}',
            b'{"d":2}',
        ),
        ProposedEvent(
            "1b8c4f7e-2f0a-4c39-9d4b-1a2b3c4d5e6f",
            "Raw",
            "application/octet-stream",
            b"",
            b"\x00\xff",
        ),
    )
    for op in (
        AppendOp("order-1", 4, events),
        AppendOp("order-2", "no_stream", ()),
        DeleteOp("order-3", "any"),
        TombstoneOp("order-4", "stream_exists"),
    ):
        assert decode_op(encode_op(op)) == op


def test_the_writer_takes_every_request_already_sent_in_one_receive() -> None:
    parent, child = socket.socketpair()
    link = Link(child)
    try:
        ops = [DeleteOp(f"s{i}", "any") for i in range(30)]
        for start in range(0, 30, 3):  # ten frames, as ten turns of the loop send them
            parent.sendall(frame([(i, encode_op(ops[i])) for i in range(start, start + 3)]))
        parent.sendall(frame([(30, encode_op(AppendOp("big", "any", (BIG_EVENT,) * 40)))]))
        jobs, stopping = link.receive()
        assert [job_id for job_id, _ in jobs] == [*range(30), 30]
        assert [op for _, op in jobs[:30]] == ops
        assert not stopping
        parent.sendall(frame([(31, encode_op(ops[0]))]) + frame(STOP))
        jobs, stopping = link.receive()
        assert [job_id for job_id, _ in jobs] == [31]
        assert stopping
        parent.close()
        assert link.receive() == ([], True)
    finally:
        child.close()


def test_the_buffer_grows_while_an_earlier_view_is_still_held() -> None:
    buffer = FrameBuffer(capacity=16)
    held = buffer.space(at_least=1)  # as asyncio holds get_buffer()'s view a while
    big = frame(b"y" * 1000)
    held[:4] = big[:4]
    assert buffer.filled(4) == []
    space = buffer.space()  # must grow to fit the frame begun, with `held` alive
    space[: len(big) - 4] = big[4:]
    space.release()
    assert buffer.filled(len(big) - 4) == [b"y" * 1000]
    held.release()
