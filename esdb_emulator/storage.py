"""The emulator's durable event log: one SQLite database in WAL mode.

INTERFACE STUB: signatures and contracts are fixed; bodies are being written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from esdb_emulator.records import (
    AppendResult,
    DeleteResult,
    ExpectedRevision,
    ProposedEvent,
    ResolvedEvent,
)

DEFAULT_MAX_APPEND_SIZE = 1_048_576


class EventLog:
    """The global log (`$all`) and its streams, persisted to SQLite.

    Writes go through one writer thread that group-commits whatever appends are
    pending into a single transaction (one fsync for many appenders); each awaiting
    caller is resolved on the event loop after the commit is durable. Reads are
    synchronous page reads on a reader connection owned by the event-loop thread.
    """

    def __init__(
        self,
        path: str | Path | None,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        max_append_size: int = DEFAULT_MAX_APPEND_SIZE,
    ) -> None:
        """`path=None` keeps the log in memory (lost when the process ends)."""
        raise NotImplementedError

    async def start(self) -> None:
        """Open (creating the schema and seeding a new node's system events on a new
        database) and start the writer thread, bound to the running event loop."""
        raise NotImplementedError

    async def close(self) -> None:
        """Finish pending writes, stop the writer thread and close connections."""
        raise NotImplementedError

    # -- writes ---------------------------------------------------------------

    async def append(
        self, stream: str, expected: ExpectedRevision, events: Sequence[ProposedEvent]
    ) -> AppendResult:
        """Append `events` to `stream` atomically if `expected` holds.

        Idempotent by event id as EventStoreDB is; raises WrongExpectedVersion,
        StreamDeleted (tombstoned) or MaxAppendSizeExceeded, writing nothing.
        """
        raise NotImplementedError

    async def delete(self, stream: str, expected: ExpectedRevision) -> DeleteResult:
        """Soft-delete `stream` (a `$metadata` event with `$tb` = long max in `$$stream`)."""
        raise NotImplementedError

    async def tombstone(self, stream: str, expected: ExpectedRevision) -> DeleteResult:
        """Delete `stream` for ever (a `$streamDeleted` record)."""
        raise NotImplementedError

    # -- reads ----------------------------------------------------------------

    def read_stream(
        self,
        stream: str,
        *,
        revision: int | None,
        backwards: bool,
        limit: int,
        resolve_links: bool,
    ) -> list[ResolvedEvent]:
        """Up to `limit` events of `stream` from `revision` (inclusive both ways;
        None = the start forwards, the end backwards), honouring `$maxCount`,
        `$maxAge` and `$tb`. Raises StreamNotFound or StreamDeleted."""
        raise NotImplementedError

    def read_all(
        self,
        *,
        position: int | None,
        backwards: bool,
        limit: int,
        resolve_links: bool,
    ) -> list[ResolvedEvent]:
        """Up to `limit` records of `$all` from `position` (forwards inclusive,
        backwards exclusive; None = the start forwards, the end backwards). No
        filtering: callers filter and call again from the last position."""
        raise NotImplementedError

    def stream_revision(self, stream: str) -> int | None:
        """The last revision written to `stream` (None if it has no events)."""
        raise NotImplementedError

    @property
    def last_position(self) -> int:
        """Commit position of the newest committed record."""
        raise NotImplementedError

    async def wait_for_commit_after(self, position: int) -> None:
        """Return once `last_position > position` (at once if already so).
        Cancellation-safe; many waiters share one wake-up per group commit."""
        raise NotImplementedError
