"""Messages between the event loop and the writer process, and their framing.

A frame is a 4-byte big-endian length and a pickle. Both ends are this package,
over a socket pair the server creates for its own child, so pickle is safe here.
Write requests travel as plain tuples: pickling a tuple of strings and bytes costs
about a tenth of a named tuple's or dataclass's, and appends send one per event.

To the writer: `Jobs` (requests to write, by job id), or `STOP` (write what was
sent, then exit). From the writer, in this order: `("ready", last_position,
facts)` or `("failed", message)` once; then `("done", [(job_id, outcome)],
position)` per transaction (`position` None when nothing was committed), and
`("log", level, event, fields)` for the loop's logger.
"""

from __future__ import annotations

import pickle
from typing import Any, TypeAlias

from esdb_emulator.log_transaction import AppendOp, DeleteOp, Op, TombstoneOp
from esdb_emulator.records import ExpectedRevision, ProposedEvent

#: An op as it travels: (kind, stream, expected[, event tuples]).
WireOp: TypeAlias = tuple[Any, ...]
Jobs: TypeAlias = list[tuple[int, WireOp]]
STOP = None

_HEADER = 4
#: Bytes asked of the socket per receive.
RECEIVE_SIZE = 1 << 16
_APPEND, _DELETE, _TOMBSTONE = "A", "D", "T"


def frame(message: object) -> bytes:
    """`message` framed for the socket."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(body).to_bytes(_HEADER, "big") + body


class FrameBuffer:
    """Reassembles frames received straight into one reusable buffer (`space`, then
    `filled`), so that no receive allocates: reading into a fresh bytes object of a
    receive's maximum size costs page faults and often system calls."""

    def __init__(self, capacity: int = 1 << 18) -> None:
        self._buffer = bytearray(capacity)
        self._start = 0  # the first byte not yet parsed
        self._end = 0  # the end of the bytes received

    def space(self, at_least: int = RECEIVE_SIZE) -> memoryview:
        """Room after the bytes held for the next receive: at least `at_least` bytes,
        and enough for the whole of a frame that has begun. Use it before calling
        `space` again (the buffer may be moved or grown)."""
        held = self._end - self._start
        if held == 0:
            self._start = self._end = 0
        elif held >= _HEADER:
            header = self._buffer[self._start : self._start + _HEADER]
            at_least = max(at_least, _HEADER + int.from_bytes(header, "big") - held)
        if len(self._buffer) - self._end < at_least and self._start:
            self._buffer[:held] = self._buffer[self._start : self._end]  # same size: no resize
            self._start, self._end = 0, held
        shortfall = at_least - (len(self._buffer) - self._end)
        if shortfall > 0:  # a new buffer, not a resize: an old view may still be held
            grown = bytearray(len(self._buffer) + shortfall)
            grown[: self._end] = self._buffer[: self._end]
            self._buffer = grown
        return memoryview(self._buffer)[self._end :]

    def filled(self, count: int) -> list[Any]:
        """Note `count` more bytes received into `space`; return the messages they
        completed, in order."""
        self._end += count
        messages = []
        start, end = self._start, self._end
        with memoryview(self._buffer) as view:
            while end - start >= _HEADER:
                size = int.from_bytes(view[start : start + _HEADER], "big")
                if end - start - _HEADER < size:
                    break
                body = view[start + _HEADER : start + _HEADER + size]
                messages.append(pickle.loads(body))  # noqa: S301 - our own child process
                body.release()
                start += _HEADER + size
        self._start = start
        return messages


def encode_op(op: Op) -> WireOp:
    """`op` as plain tuples."""
    if isinstance(op, AppendOp):
        return (_APPEND, op.stream, op.expected, [tuple(event) for event in op.events])
    if isinstance(op, DeleteOp):
        return (_DELETE, op.stream, op.expected)
    return (_TOMBSTONE, op.stream, op.expected)


def decode_op(wire: WireOp) -> Op:
    """The op `encode_op` made `wire` from."""
    kind, stream, expected = wire[0], wire[1], wire[2]
    revision: ExpectedRevision = expected
    if kind == _APPEND:
        new = tuple.__new__
        events = tuple([new(ProposedEvent, event) for event in wire[3]])
        return AppendOp(stream, revision, events)
    if kind == _DELETE:
        return DeleteOp(stream, revision)
    if kind == _TOMBSTONE:
        return TombstoneOp(stream, revision)
    raise ValueError(f"unknown op kind {kind!r}")
