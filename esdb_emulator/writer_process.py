"""The event log's writer: a process of its own that group-commits into SQLite.

Why a process: Python's sqlite3 releases the GIL around every row it steps, so a
writer *thread* must win the GIL back after each row, and while the event loop
is busy (parsing the next batch, serving reads) each of those waits can last a
whole switch interval. Measured on 2 cores, 100-event batches went from 15 to 176
us per event when another thread kept the GIL busy. A writer process has its own
GIL and never waits for the loop.

`LogWriter` (the loop's side) starts it as
`python -m esdb_emulator.writer_process FD DB_FILE SYNCHRONOUS MAX_PAGES` with one
end of a socket pair as FD; messages are those of `log_ipc`. The writer drains
every request that has arrived into one `BEGIN IMMEDIATE ... COMMIT` (one fsync
for all of them) and answers with one message per transaction. If the database
fails a transaction, its requests are retried one transaction each, so only the
request that cannot be written fails, with StorageFailure. It exits after STOP, or
when the socket closes because its parent has ended (even by kill -9): requests
already received are written first, though nobody will be told.
"""

from __future__ import annotations

import signal
import socket
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any, cast

from esdb_emulator import system_events
from esdb_emulator.log_ipc import STOP, FrameBuffer, Jobs, decode_op, frame
from esdb_emulator.log_schema import SCHEMA, Synchronous, connect
from esdb_emulator.log_transaction import HeadCache, Op, RecentIds, Transaction
from esdb_emulator.records import (
    AppendResult,
    DeleteResult,
    StorageError,
    StorageFailure,
)

Outcome = AppendResult | DeleteResult | StorageError
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


class Link:
    """The writer's end of the socket: blocking receives, locked sends (the
    checkpointer thread reports through it too)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._frames = FrameBuffer()
        self._send_lock = threading.Lock()
        self.closed = False

    def send(self, message: object) -> None:
        """Send `message`; a parent that has gone is noted, not raised."""
        data = frame(message)
        with self._send_lock:
            if self.closed:
                return
            try:
                self._sock.sendall(data)
            except OSError:
                self.closed = True

    def log(self, level: str, event: str, **fields: Any) -> None:
        """Have the parent's logger log `event`."""
        self.send(("log", level, event, fields))

    def receive(self) -> tuple[list[tuple[int, Op]], bool]:
        """Wait for requests; return all that have arrived (in order) and whether
        the parent asked to stop or has gone."""
        frames, sock = self._frames, self._sock
        messages: list[Jobs | None] = []
        drained = False
        while not messages:
            space = frames.space()
            received = sock.recv_into(space)
            if not received:
                return [], True
            drained = received < len(space)  # the socket had no more at that moment
            space.release()
            messages += frames.filled(received)
        while not drained:  # take whatever else is already here, without waiting
            space = frames.space()
            room = len(space)
            try:
                received = sock.recv_into(space, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            finally:
                space.release()
            if not received:
                messages.append(STOP)
                break
            drained = received < room
            messages += frames.filled(received)
        jobs: list[tuple[int, Op]] = []
        for message in messages:
            if message is STOP:
                return jobs, True
            jobs += [(job_id, decode_op(op)) for job_id, op in message]
        return jobs, False


class Writer:
    """Owns the writer connection; applies and commits requests in groups."""

    def __init__(self, db_file: Path, synchronous: Synchronous, max_pages: int, link: Link) -> None:
        self._db_file = db_file
        self._synchronous = synchronous
        self._max_pages = max_pages
        self._link = link
        self._heads = HeadCache()
        self._ids = RecentIds()
        self._position = 0
        self._checkpointed_at = 0
        self._checkpointer: Checkpointer | None = None
        self._conn: sqlite3.Connection | None = None

    def open(self) -> tuple[int, dict[str, object]]:
        """Open the database (schema, seeding, this start's epoch); the last commit
        position, and facts for the parent's log."""
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
        self._checkpointer = Checkpointer(self._db_file, self._synchronous, self._link)
        facts = {"new": node is None, "epoch": epoch, "last_position": self._position}
        return self._position, facts

    def close(self) -> None:
        """Stop the checkpointer and close the connection."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._conn is not None:
            self._conn.close()

    def serve(self) -> None:
        """Write requests as they arrive until told to stop (or the parent is gone)."""
        while True:
            jobs, stopping = self._link.receive()
            for start in range(0, len(jobs), MAX_GROUP):
                self._commit(jobs[start : start + MAX_GROUP])
            if stopping:
                return

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

    def _commit(self, jobs: list[tuple[int, Op]]) -> None:
        try:
            outcomes, tx = self._transaction([op for _, op in jobs])
        except Exception as exc:  # noqa: BLE001 - any failure goes back to the callers
            if len(jobs) > 1:
                for job in jobs:  # isolate the request the database refuses
                    self._commit([job])
                return
            job_id, op = jobs[0]
            self._link.log("error", "log.write_failed", stream=op.stream, error=repr(exc))
            self._link.send(("done", [(job_id, StorageFailure(repr(exc)))], None))
            return
        self._adopt(tx)
        results = [(job_id, outcome) for (job_id, _), outcome in zip(jobs, outcomes, strict=True)]
        self._link.send(("done", results, self._position))

    def _transaction(self, ops: list[Op]) -> tuple[list[Outcome], Transaction]:
        assert self._conn is not None
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            tx = Transaction(self._conn, self._heads, self._ids, self._position)
            outcomes: list[Outcome] = []
            for op in ops:
                try:
                    outcomes.append(tx.apply(op))
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
        if self._position - self._checkpointed_at >= CHECKPOINT_BYTES:
            self._checkpointed_at = self._position  # positions advance by record sizes
            if self._checkpointer is not None:
                self._checkpointer.request()


class Checkpointer:
    """Copies the WAL back into the database on its own thread and connection,
    so that commits do not pay for it. PASSIVE checkpoints never block the writer
    or readers; a checkpoint that fails is logged and retried on the next request."""

    def __init__(self, db_file: Path, synchronous: Synchronous, link: Link) -> None:
        self._db_file = db_file
        self._synchronous = synchronous
        self._link = link
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
            self._link.log("warning", "log.checkpointer_unavailable", error=repr(exc))
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
                    self._link.log("warning", "log.checkpoint_failed", error=repr(exc))
        finally:
            conn.close()


def main(argv: list[str] | None = None) -> int:
    """Serve the parent on the inherited socket; exit status 0 after a clean stop."""
    fd, db_file, synchronous, max_pages = (sys.argv[1:] if argv is None else argv)[:4]
    # Ctrl-C reaches the whole process group: the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if synchronous not in ("FULL", "NORMAL", "OFF"):
        raise SystemExit(f"writer_process: bad synchronous setting {synchronous!r}")
    link = Link(socket.socket(fileno=int(fd)))
    writer = Writer(Path(db_file), cast(Synchronous, synchronous), int(max_pages), link)
    try:
        try:
            position, facts = writer.open()
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
            link.send(("failed", f"{type(exc).__name__}: {exc}"))
            return 1
        link.send(("ready", position, facts))
        writer.serve()
    finally:
        writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
