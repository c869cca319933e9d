"""Value types shared by the emulator's storage and its gRPC services.

Positions are commit positions in the single global log (`$all`); they increase
strictly, have gaps (like byte offsets) and never start at 0. Revisions are the
zero-based, gapless event numbers inside one stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, TypeAlias

#: Expected-revision modes of an append, delete or tombstone: an exact revision or
#: one of the three named states of the protocol.
ExpectedRevision: TypeAlias = int | Literal["any", "no_stream", "stream_exists"]

#: Revision of the tombstone record (.NET long.MaxValue), also the `$tb` of a
#: soft-deleted stream's metadata.
DELETED_STREAM_REVISION = 9_223_372_036_854_775_807


class ProposedEvent(NamedTuple):
    """An event as a client proposes it; `event_id` is a canonical lowercase UUID.

    A named tuple (as `RecordedEvent` is): appends build one per event on the event
    loop, three times faster than a frozen dataclass.
    """

    event_id: str
    type: str
    content_type: str
    metadata: bytes
    data: bytes


class RecordedEvent(NamedTuple):
    """An event as stored: its place in the log and in its stream.

    `created` is in 100-ns ticks since the Unix epoch (what the wire's `created`
    metadata carries). Commit and prepare positions are equal on a single node.
    An immutable named tuple rather than a frozen dataclass: reads build one per
    row, and a tuple is built five times faster (use `_replace` to derive one).
    """

    position: int
    stream: str
    revision: int
    event_id: str
    type: str
    content_type: str
    metadata: bytes
    data: bytes
    created: int

    @property
    def is_system(self) -> bool:
        """True for system event types (`$`-prefixed), hidden by the default filter."""
        return self.type.startswith("$")


class ResolvedEvent(NamedTuple):
    """What a read yields: the event, and the link it was reached through.

    `link` is set only when a `$>` link event was resolved; then `event` is the
    target. An unresolvable link (target gone) is yielded as `event=link`,
    `link=None`, as EventStoreDB does. A named tuple, as `RecordedEvent` is.
    """

    event: RecordedEvent
    link: RecordedEvent | None = None

    @property
    def original(self) -> RecordedEvent:
        """The record that sits in the stream being read (the link if resolved)."""
        return self.link if self.link is not None else self.event


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Outcome of a successful append: the stream's last revision and the commit
    position of the last event of the batch (the original one on an idempotent retry)."""

    current_revision: int
    position: int


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """Outcome of a delete or tombstone: the commit position of what it wrote."""

    position: int


class StorageError(Exception):
    """Root of the errors the storage raises; the services translate them to the wire."""


class WrongExpectedVersion(StorageError):
    """The stream is not at the expected revision.

    `current_revision` is None when the stream has no events (or never existed);
    otherwise the last revision, for a soft-deleted stream included.
    """

    def __init__(self, stream: str, expected: ExpectedRevision, current_revision: int | None):
        self.stream = stream
        self.expected = expected
        self.current_revision = current_revision
        super().__init__(
            f"stream {stream!r}: expected {expected!r}, current revision {current_revision!r}"
        )


class StreamDeleted(StorageError):
    """The stream is tombstoned (or, for `stream_exists` on delete, soft-deleted)."""

    def __init__(self, stream: str):
        self.stream = stream
        super().__init__(f"Event stream '{stream}' is deleted.")


class StreamNotFound(StorageError):
    """A read of a stream that has no readable events (missing or soft-deleted)."""

    def __init__(self, stream: str):
        self.stream = stream
        super().__init__(f"stream {stream!r} not found")


class MaxAppendSizeExceeded(StorageError):
    """The proposed events are larger than the server's maximum append size."""

    def __init__(self, max_append_size: int):
        self.max_append_size = max_append_size
        super().__init__(f"maximum append size of {max_append_size} bytes exceeded")


class StorageFailure(StorageError):
    """The database could not complete a write (I/O error, disk full, ...).

    Nothing of the failed request was written; the original error is the `__cause__`.
    """

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(f"the event log could not write: {detail}")
