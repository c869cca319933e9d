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
_APPEND, _DELETE, _TOMBSTONE = "A", "D", "T"


def frame(message: object) -> bytes:
    """`message` framed for the socket."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(body).to_bytes(_HEADER, "big") + body


class FrameReader:
    """Reassembles frames from the byte chunks a socket delivers."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        """Add `data`; return the messages completed by it, in order."""
        buffer = self._buffer
        buffer += data
        messages = []
        start = 0
        view = memoryview(buffer)
        try:
            while len(buffer) - start >= _HEADER:
                size = int.from_bytes(view[start : start + _HEADER], "big")
                end = start + _HEADER + size
                if end > len(buffer):
                    break
                messages.append(pickle.loads(view[start + _HEADER : end]))  # noqa: S301 - our child
                start = end
        finally:
            view.release()
        del buffer[:start]
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
