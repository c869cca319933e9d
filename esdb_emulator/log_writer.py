"""The event log's single writer thread, with group commit.

Callers on the event loop `submit` requests; the thread drains everything pending
into one `BEGIN IMMEDIATE ... COMMIT` (one fsync for all of them), then resolves
each caller's future on the loop with one `call_soon_threadsafe` per transaction.
If the database fails a transaction, its requests are retried one transaction
each, so only the request that cannot be written fails, with StorageFailure.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from esdb_emulator import system_events
from esdb_emulator.log_schema import SCHEMA, Synchronous, connect
from esdb_emulator.log_transaction import (
    HeadCache,
    Op,
    RecentIds,
    Transaction,
)
from esdb_emulator.records import (
    AppendResult,
    DeleteResult,
    StorageError,
    StorageFailure,
)

_log = structlog.get_logger("esdb_emulator.log_writer")

Outcome = AppendResult | DeleteResult
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


@dataclass(frozen=True, slots=True)
class _Job:
    op: Op
    future: asyncio.Future[Outcome]


class LogWriter:
    """Owns the writer connection and thread. `on_commit(position)` runs on the
    loop after every commit, before the transaction's futures are resolved."""

    def __init__(
        self, db_file: Path, synchronous: Synchronous, on_commit: Callable[[int], None]
    ) -> None:
        self.commit_count = 0
        self._db_file = db_file
        self._synchronous = synchronous
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._heads = HeadCache()
        self._ids = RecentIds()
        self._position = 0
        self._checkpointed_at = 0
        self._checkpointer: Checkpointer | None = None
        self._conn: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    async def start(self) -> int:
        """Open the database (schema, seeding, this start's epoch) on the writer
        thread and start serving; returns the last commit position."""
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[int] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="esdb-log-writer", daemon=True
        )
        self._thread.start()
        return await ready

    def submit(self, op: Op) -> asyncio.Future[Outcome]:
        """Queue `op`; the future resolves once it is durable (or failed)."""
        if self._stopping or self._thread is None or not self._thread.is_alive():
            raise StorageError("the event log is not open")
        assert self._loop is not None
        future: asyncio.Future[Outcome] = self._loop.create_future()
        self._queue.put(_Job(op, future))
        return future

    async def stop(self) -> None:
        """Write everything queued so far, then end the thread."""
        if self._thread is None:
            return
        self._stopping = True  # submit() runs on the loop too: nothing queues after None
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)
        self._thread = None
        await asyncio.sleep(0)  # let the last deliveries run

    # -- the thread ----------------------------------------------------------------

    def _run(self, ready: asyncio.Future[int]) -> None:
        try:
            self._open()
        except Exception as exc:  # noqa: BLE001 - reported to start()'s caller
            if self._conn is not None:
                self._conn.close()
            self._call_on_loop(_fail_start, ready, exc)
            return
        self._call_on_loop(_finish_start, ready, self._position)
        checkpointer = Checkpointer(self._db_file, self._synchronous)
        self._checkpointer = checkpointer
        try:
            self._serve()
        finally:
            checkpointer.stop()
            assert self._conn is not None
            self._conn.close()

    def _open(self) -> None:
        conn = self._conn = connect(self._db_file, self._synchronous, writer=True)
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
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
        _log.info(
            "log.opened",
            db=str(self._db_file),
            new=node is None,
            epoch=epoch,
            last_position=self._position,
        )

    def _commit_ops(self, ops: list[Op], new_node_id: str | None) -> None:
        """Write start-up records in one transaction (raising on any failure)."""
        assert self._conn is not None
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            tx = Transaction(self._conn, self._heads, self._ids, self._position)
            for op in ops:
                tx.apply(op)
            if new_node_id is not None:
                self._conn.execute("INSERT INTO node VALUES ('node_id', ?)", (new_node_id,))
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:  # SQLite may have rolled back already
                self._conn.execute("ROLLBACK")
            raise
        self._adopt(tx)

    def _serve(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs, stopping = [job], False
            while len(jobs) < MAX_GROUP:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                jobs.append(job)
            self._commit(jobs)
            if stopping:
                return

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            outcomes, tx = self._transaction(jobs)
        except Exception as exc:  # noqa: BLE001 - any failure goes back to the callers
            if len(jobs) > 1:
                for job in jobs:  # isolate the request the database refuses
                    self._commit([job])
                return
            _log.error("log.write_failed", stream=jobs[0].op.stream, error=repr(exc))
            failure = StorageFailure(repr(exc))
            failure.__cause__ = exc
            self._call_on_loop(self._deliver, jobs, [failure], None)
            return
        self._adopt(tx)
        self._call_on_loop(self._deliver, jobs, outcomes, self._position)

    def _transaction(self, jobs: list[_Job]) -> tuple[list[Outcome | StorageError], Transaction]:
        assert self._conn is not None
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            tx = Transaction(self._conn, self._heads, self._ids, self._position)
            outcomes: list[Outcome | StorageError] = []
            for job in jobs:
                try:
                    outcomes.append(tx.apply(job.op))
                except StorageError as exc:
                    outcomes.append(exc)
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        return outcomes, tx

    def _adopt(self, tx: Transaction) -> None:
        tx.adopt()
        self._position = tx.position
        self.commit_count += 1
        if self._position - self._checkpointed_at >= CHECKPOINT_BYTES:
            self._checkpointed_at = self._position  # positions advance by record sizes
            if self._checkpointer is not None:
                self._checkpointer.request()

    def _call_on_loop(self, callback: Callable[..., None], *args: object) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            _log.warning("log.loop_closed")

    # -- on the loop ---------------------------------------------------------------

    def _deliver(
        self,
        jobs: list[_Job],
        outcomes: list[Outcome | StorageError],
        position: int | None,
    ) -> None:
        if position is not None:
            self._on_commit(position)
        for job, outcome in zip(jobs, outcomes, strict=True):
            if job.future.done():  # the caller gave up waiting
                continue
            if isinstance(outcome, StorageError):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)


def _finish_start(ready: asyncio.Future[int], position: int) -> None:
    if not ready.done():
        ready.set_result(position)


def _fail_start(ready: asyncio.Future[int], exc: BaseException) -> None:
    if not ready.done():
        ready.set_exception(exc)


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
