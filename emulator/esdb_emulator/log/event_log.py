"""The emulator's durable event log: one SQLite database in WAL mode.

`EventLog` is the facade the services use: it validates requests, hands writes to
the writer (`log_writer`, rules in `log_transaction`), serves reads (`log_reader`)
and wakes live readers after each commit.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import structlog

from esdb_emulator.log.lock import DatabaseLock, DatabaseUnusable
from esdb_emulator.log.reader import LogReader
from esdb_emulator.log.records import (
    DELETED_STREAM_REVISION,
    AppendResult,
    DeleteResult,
    ExpectedRevision,
    MaxAppendSizeExceeded,
    ProposedEvent,
    ResolvedEvent,
    StorageError,
)
from esdb_emulator.log.schema import Synchronous
from esdb_emulator.log.transaction import AppendOp, DeleteOp, Op, TombstoneOp
from esdb_emulator.log.writer import LogWriter

DEFAULT_MAX_APPEND_SIZE = 1_048_576

_log = structlog.get_logger("esdb_emulator.log.event_log")
_STATES = ("any", "no_stream", "stream_exists")


class EventLog:
    """The global log (`$all`) and its streams, persisted to SQLite.

    Writes go through one writer that group-commits the appends of each turn of the
    event loop into a single transaction (one fsync for many appenders); each
    awaiting caller is resolved after the commit is durable. Reads are synchronous
    page reads on a reader connection; both connections belong to the loop's thread.

    Idempotency is EventStoreDB's: a retry with an exact expected revision or
    `no_stream` is recognised from the stored stream for ever; with `any` or
    `stream_exists` only through a bounded cache of recent event ids (about 8 MiB,
    lost on restart), so such a retry may append duplicates, as on a real server.
    """

    def __init__(
        self,
        path: str | Path | None,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        max_append_size: int = DEFAULT_MAX_APPEND_SIZE,
        max_db_bytes: int | None = None,
    ) -> None:
        """`path=None` keeps the log in memory (lost when the process ends): a
        private database file on tmpfs with synchronous=OFF, removed on close.
        `max_db_bytes` caps the database: a write that would grow it further fails
        with StorageFailure, as on a full disk (None: no cap)."""
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', not {synchronous!r}")
        if max_append_size <= 0:
            raise ValueError(f"max_append_size must be positive, not {max_append_size}")
        self._path = None if path is None else Path(path)
        self._synchronous: Synchronous = synchronous
        self._max_append_size = max_append_size
        self._max_db_bytes = max_db_bytes
        self._last_position = 0
        self._commit_event: asyncio.Event | None = None
        self._writer: LogWriter | None = None
        self._reader: LogReader | None = None
        self._scratch: Path | None = None
        self._lock: DatabaseLock | None = None

    async def start(self) -> None:
        """Open (creating missing parent folders, the schema and a new node's system
        events on a new database), bound to the running event loop.

        A file database is locked for as long as the log is open (`db_lock`): raises
        DatabaseInUse if another log holds it, DatabaseUnusable if the file or its folder
        cannot be created or is not a usable SQLite database.
        """
        if self._writer is not None:
            raise RuntimeError("the event log is already started")
        if self._path is not None:
            self._lock = _lock_database(self._path)
        try:
            db_file, synchronous = self._db_file()
            self._commit_event = asyncio.Event()
            writer = LogWriter(
                db_file, synchronous, self._on_commit, max_db_bytes=self._max_db_bytes
            )
            try:
                self._last_position = await writer.start()
            except sqlite3.DatabaseError as error:
                raise DatabaseUnusable(_unusable(db_file, error)) from None
            self._writer = writer
            self._reader = LogReader(db_file, synchronous)
        except BaseException:
            self._release_lock()
            raise

    async def close(self) -> None:
        """Finish pending writes and close the connections."""
        if self._writer is not None:
            await self._writer.stop()
            self._writer = None
        if self._commit_event is not None:  # wake the waiters: they find it closed
            woken, self._commit_event = self._commit_event, None
            woken.set()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        self._release_lock()
        _log.info("log.closed", last_position=self._last_position)

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def commit_count(self) -> int:
        """Transactions committed since start (observability of group commit)."""
        return 0 if self._writer is None else self._writer.commit_count

    # -- writes ---------------------------------------------------------------

    async def append(
        self, stream: str, expected: ExpectedRevision, events: Sequence[ProposedEvent]
    ) -> AppendResult:
        """Append `events` to `stream` atomically if `expected` holds.

        Idempotent by event id as EventStoreDB is; raises WrongExpectedVersion,
        StreamDeleted (tombstoned) or MaxAppendSizeExceeded, writing nothing.
        Appending no events checks `expected` and returns the current revision
        (-1 if none). ValueError for a malformed request.
        """
        _check_request(stream, expected)
        events = tuple(events)
        for event in events:
            if not event.type:
                raise ValueError(f"event {event.event_id!r}: the event type is empty")
        if sum(map(append_size, events)) > self._max_append_size:
            raise MaxAppendSizeExceeded(self._max_append_size)
        result = await self._submit(AppendOp(stream, expected, events))
        assert isinstance(result, AppendResult)
        return result

    async def delete(self, stream: str, expected: ExpectedRevision) -> DeleteResult:
        """Soft-delete `stream` (a `$metadata` event with `$tb` = long max in `$$stream`)."""
        _check_request(stream, expected)
        result = await self._submit(DeleteOp(stream, expected))
        assert isinstance(result, DeleteResult)
        return result

    async def tombstone(self, stream: str, expected: ExpectedRevision) -> DeleteResult:
        """Delete `stream` for ever (a `$streamDeleted` record)."""
        _check_request(stream, expected)
        result = await self._submit(TombstoneOp(stream, expected))
        assert isinstance(result, DeleteResult)
        return result

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
        return self._open_reader().read_stream(
            stream,
            revision=revision,
            backwards=backwards,
            limit=limit,
            resolve_links=resolve_links,
        )

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
        return self._open_reader().read_all(
            position=position, backwards=backwards, limit=limit, resolve_links=resolve_links
        )

    def stream_revision(self, stream: str) -> int | None:
        """The last revision written to `stream` (None if it has no events)."""
        return self._open_reader().stream_revision(stream)

    @property
    def last_position(self) -> int:
        """Commit position of the newest committed record."""
        return self._last_position

    async def wait_for_commit_after(self, position: int) -> None:
        """Return once `last_position > position` (at once if already so).
        Cancellation-safe; many waiters share one wake-up per group commit.
        Raises StorageError if the log is not open or closes meanwhile."""
        while self._last_position <= position:
            if self._commit_event is None:
                raise StorageError("the event log is not open")
            await self._commit_event.wait()

    # -- internals ------------------------------------------------------------

    def _db_file(self) -> tuple[Path, Synchronous]:
        if self._path is not None:
            return self._path, self._synchronous
        # In memory: a private WAL file on tmpfs where available. SQLite's shared-
        # cache memory databases lock tables against readers during a write, and
        # the memdb VFS blocks readers for the whole write transaction.
        self._scratch = _new_scratch_dir()
        return self._scratch / "events.db", "OFF"

    def _on_commit(self, position: int) -> None:
        """On the loop, after each commit: publish the position, wake the waiters."""
        self._last_position = position
        if self._commit_event is not None:
            woken, self._commit_event = self._commit_event, asyncio.Event()
            woken.set()

    async def _submit(self, op: Op) -> AppendResult | DeleteResult:
        if self._writer is None:
            raise StorageError("the event log is not open")
        return await self._writer.submit(op)

    def _open_reader(self) -> LogReader:
        if self._reader is None:
            raise StorageError("the event log is not open")
        return self._reader


def _lock_database(path: Path) -> DatabaseLock:
    """Create the database's missing parent folders, then take its lock."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatabaseUnusable(
            f"cannot create the folder {path.parent} for the database {path}:"
            f" {error.strerror or error}"
        ) from None
    return DatabaseLock.acquire(path)


def _unusable(db_file: Path, error: sqlite3.DatabaseError) -> str:
    if "unable to open" in str(error):
        hint = "can this user create and write files in that folder?"
    else:
        hint = "is it a corrupt file, or not an esdb-emulator database?"
    return f"cannot open {db_file} as an event log: {error} ({hint})"


_SCRATCH_PREFIX = "esdb-emulator-"


def _new_scratch_dir() -> Path:
    """A private directory for an in-memory log: on tmpfs where there is one,
    named after this process, after removing those of processes that are gone
    (a killed emulator cannot clean up after itself)."""
    shm = Path("/dev/shm")  # noqa: S108 - mkdtemp makes a private 0700 directory
    base = shm if shm.is_dir() else Path(tempfile.gettempdir())
    for stale in base.glob(f"{_SCRATCH_PREFIX}*-*"):
        pid = stale.name.removeprefix(_SCRATCH_PREFIX).split("-", 1)[0]
        if stale.is_dir() and pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}{os.getpid()}-", dir=base))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's
        return True
    return True


def append_size(event: ProposedEvent) -> int:
    """What an event counts towards the maximum append size: data, metadata and
    the type at two bytes a character, as EventStoreDB's `Event.SizeOnDisk`."""
    return len(event.data) + len(event.metadata) + 2 * len(event.type)


def _check_request(stream: str, expected: ExpectedRevision) -> None:
    if not stream:
        raise ValueError("the stream name is empty")
    if isinstance(expected, bool) or not (
        expected in _STATES
        or (isinstance(expected, int) and 0 <= expected < DELETED_STREAM_REVISION)
    ):
        raise ValueError(
            f"expected revision must be 'any', 'no_stream', 'stream_exists' or a"
            f" revision >= 0, not {expected!r}"
        )
