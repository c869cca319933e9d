"""The event log's single writer, on the event loop's own thread, with group commit.

Callers on the loop `submit` requests; the requests submitted in one turn of the
loop are written by one `BEGIN IMMEDIATE ... COMMIT` (one fsync for all of them)
at the start of the next turn, and each caller's future is resolved right after.
If the database fails a transaction, its requests are retried one transaction
each, so only the request that cannot be written fails, with StorageFailure.

Why on the loop: the loop's turn is a natural commit group and no hand-over is paid;
a writer thread waits for the GIL after every row, a writer process pays a round trip
per request, and both measured slower (emulator/benchmarks/RESULTS.md). The cost is
that the loop waits for each commit's fsync, and requests arriving meanwhile form the
next group.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import structlog

from esdb_emulator.log import system_events
from esdb_emulator.log.records import (
    AppendResult,
    DeleteResult,
    StorageError,
    StorageFailure,
)
from esdb_emulator.log.schema import SCHEMA, Synchronous, connect
from esdb_emulator.log.transaction import HeadCache, Op, RecentIds, Transaction

_log = structlog.get_logger("esdb_emulator.log.writer")

Outcome = AppendResult | DeleteResult
#: A submitted request and the future its caller awaits.
_Job = tuple[Op, asyncio.Future[Outcome]]
#: Requests per transaction at most, so one commit never holds the lock for long.
MAX_GROUP = 1000
#: Log bytes written between two background checkpoints.
CHECKPOINT_BYTES = 4 * 1024 * 1024
#: WAL size (pages, 16 MiB) at which a commit checkpoints by itself. Background
#: checkpoints alone never let the WAL restart (the writer keeps adding frames),
#: so this one finishes the job; it only copies what was written since the last
#: background checkpoint, and the next transaction starts the WAL over.
WAL_AUTOCHECKPOINT_PAGES = 2048
#: The WAL file is truncated to this size after a restart.
WAL_SIZE_LIMIT = 32 * 1024 * 1024
_PAGE_SIZE = 8192
#: A WAL file frame: a 24-byte header and a page.
_FRAME_SIZE = 24 + _PAGE_SIZE
#: The WAL file is extended with zeros to this size when the log opens (SQLite
#: deletes it on a clean close), about what it reaches before it starts over. A
#: commit that grows the file makes its fsync update the file system's metadata
#: too (slower: see emulator/benchmarks/RESULTS.md). SQLite reads a frame of zeros as the end of the
#: log, so the zeros are never taken for data, even in recovery after a crash.
WAL_PREALLOCATED = (WAL_AUTOCHECKPOINT_PAGES + 64) * _FRAME_SIZE


class LogWriter:
    """Owns the writer connection. `on_commit(position)` runs after every commit,
    before the transaction's futures are resolved. `max_db_bytes` caps the
    database file (writes beyond it fail with StorageFailure, as on a full disk);
    None for no cap. All methods run on the event loop's thread."""

    def __init__(
        self,
        db_file: Path,
        synchronous: Synchronous,
        on_commit: Callable[[int], None],
        *,
        max_db_bytes: int | None = None,
    ) -> None:
        self.commit_count = 0
        self._db_file = db_file
        self._synchronous = synchronous
        self._on_commit = on_commit
        self._max_pages = 0 if max_db_bytes is None else max(1, max_db_bytes // _PAGE_SIZE)
        self._heads = HeadCache()
        self._ids = RecentIds()
        self._position = 0
        self._checkpointed_at = 0
        self._checkpointer: Checkpointer | None = None
        self._conn: sqlite3.Connection | None = None
        self._outbox: list[_Job] = []
        self._flush_scheduled = False
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> int:
        """Open the database (schema, seeding, this start's epoch); returns the last
        commit position."""
        self._loop = asyncio.get_running_loop()
        try:
            self._open()
        except BaseException:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            raise
        self._checkpointer = Checkpointer(self._db_file, self._synchronous)
        return self._position

    def submit(self, op: Op) -> asyncio.Future[Outcome]:
        """Queue `op` for this turn's commit; the future resolves once it is durable
        (or failed)."""
        if self._conn is None or self._stopping:
            raise StorageError("the event log is not open")
        assert self._loop is not None
        future: asyncio.Future[Outcome] = self._loop.create_future()
        self._outbox.append((op, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return future

    async def stop(self) -> None:
        """Write everything submitted so far, then close the connection."""
        if self._conn is None:
            return
        self._stopping = True  # nothing more is accepted: the flush below is the last
        self._flush()
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
            self._checkpointer = None
        self._conn.close()
        self._conn = None

    # -- internals ---------------------------------------------------------------------

    def _open(self) -> None:
        conn = self._conn = connect(self._db_file, self._synchronous, writer=True)
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        if self._max_pages:
            conn.execute(f"PRAGMA max_page_count={self._max_pages}")
        conn.executescript(SCHEMA)
        (self._position,) = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
        node = conn.execute("SELECT value FROM node WHERE key = 'node_id'").fetchone()
        node_id = system_events.new_node_id() if node is None else node[0]
        (epoch,) = conn.execute(
            "SELECT count(*) FROM events WHERE stream = ?", (system_events.EPOCHS_STREAM,)
        ).fetchone()
        ops: list[Op] = [system_events.epoch_append(node_id, epoch, self._position)]
        if node is None:
            ops += system_events.new_node_appends()
        self._commit_ops(ops, node_id if node is None else None)
        if self._synchronous != "OFF":
            extend_wal(Path(f"{self._db_file}-wal"), WAL_PREALLOCATED)
        _log.info(
            "log.opened",
            db=str(self._db_file),
            new=node is None,
            epoch=epoch,
            last_position=self._position,
        )

    def _commit_ops(self, ops: list[Op], new_node_id: str | None) -> None:
        """Write start-up records in one transaction (raising on any failure)."""
        with self._begin_immediate() as tx:
            for op in ops:
                tx.apply(op)
            if new_node_id is not None:
                assert self._conn is not None
                self._conn.execute("INSERT INTO node VALUES ('node_id', ?)", (new_node_id,))
        self._adopt(tx)

    def _flush(self) -> None:
        self._flush_scheduled = False
        jobs, self._outbox = self._outbox, []
        for start in range(0, len(jobs), MAX_GROUP):
            self._commit(jobs[start : start + MAX_GROUP])

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            outcomes, tx = self._transaction([op for op, _ in jobs])
        except Exception as exc:  # noqa: BLE001 - any failure goes back to the callers
            if len(jobs) > 1:
                for job in jobs:  # isolate the request the database refuses
                    self._commit([job])
                return
            op, future = jobs[0]
            _log.error("log.write_failed", stream=op.stream, error=repr(exc))
            failure = StorageFailure(repr(exc))
            failure.__cause__ = exc
            _settle(future, failure)
            return
        self._adopt(tx)
        self.commit_count += 1
        self._on_commit(self._position)
        for (_, future), outcome in zip(jobs, outcomes, strict=True):
            _settle(future, outcome)

    def _transaction(self, ops: list[Op]) -> tuple[list[Outcome | StorageError], Transaction]:
        outcomes: list[Outcome | StorageError] = []
        with self._begin_immediate() as tx:
            for op in ops:
                try:
                    outcomes.append(tx.apply(op))
                except StorageError as exc:
                    outcomes.append(exc)
        return outcomes, tx

    @contextlib.contextmanager
    def _begin_immediate(self) -> Iterator[Transaction]:
        """A `Transaction` inside BEGIN IMMEDIATE: committed when the block ends,
        rolled back if it raises (or if COMMIT fails)."""
        conn = self._conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield Transaction(conn, self._heads, self._ids, self._position)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already
                conn.execute("ROLLBACK")
            raise

    def _adopt(self, tx: Transaction) -> None:
        tx.adopt()
        self._position = tx.position
        if self._position - self._checkpointed_at >= CHECKPOINT_BYTES:
            self._checkpointed_at = self._position  # positions advance by record sizes
            if self._checkpointer is not None:
                self._checkpointer.request()


def _settle(future: asyncio.Future[Outcome], outcome: Outcome | StorageError) -> None:
    if future.done():  # the caller gave up waiting
        return
    if isinstance(outcome, StorageError):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def extend_wal(wal: Path, size: int) -> None:
    """Extend `wal` with zeros to `size` bytes, durably. Only while nothing else
    writes to it: the writer's connection is ours and the checkpointer not started."""
    with open(wal, "r+b") as file:
        end = file.seek(0, os.SEEK_END)
        if end >= size:
            return
        zeros = bytes(1 << 20)
        while end < size:
            end += file.write(zeros[: size - end])
        file.flush()
        os.fsync(file.fileno())


class Checkpointer:
    """Copies the WAL back into the database on its own thread and connection,
    so that commits do not pay for it. PASSIVE checkpoints never block the writer
    or readers; a checkpoint that fails is logged and retried on the next request."""

    def __init__(self, db_file: Path, synchronous: Synchronous) -> None:
        self._db_file = db_file
        self._synchronous = synchronous
        self._due = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="esdb-log-checkpointer", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a checkpoint soon (requests made meanwhile coalesce)."""
        self._due.set()

    def stop(self) -> None:
        """End the thread after any checkpoint in progress."""
        self._stopping = True
        self._due.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            conn = connect(self._db_file, self._synchronous, writer=True)
        except sqlite3.Error as exc:  # commits then checkpoint by themselves
            _log.warning("log.checkpointer_unavailable", error=repr(exc))
            return
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._stopping:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:
                    _log.warning("log.checkpoint_failed", error=repr(exc))
        finally:
            conn.close()
