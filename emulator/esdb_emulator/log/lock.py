"""One database, one server: an exclusive OS lock on `<db>.lock` for the log's life.

Two nodes on one SQLite file would each keep their own last commit position and hand
out overlapping ones, so a second node is refused. The lock is `flock(LOCK_EX)` on a
companion file that holds the holder's pid (for the message); the kernel drops it when
the holding process dies, even by SIGKILL, so a crash never blocks a restart. The file
itself is left in place: deleting a lock file races with the next taker.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from esdb_emulator.log.records import StorageError


class DatabaseInUse(StorageError):
    """Another live process holds the database's lock; `holder_pid` is its pid if known."""

    def __init__(self, db_path: Path, holder_pid: int | None) -> None:
        self.db_path = db_path
        self.holder_pid = holder_pid
        holder = f"pid {holder_pid}" if holder_pid is not None else "another process"
        super().__init__(
            f"the database {db_path} is already served by {holder} (lock {lock_path(db_path)}):"
            " one database, one server. Stop that server first, or use another --db."
        )


class DatabaseUnusable(StorageError):
    """The database (or its folder) cannot be created, opened or read as an event log."""


def lock_path(db_path: Path) -> Path:
    """The lock file of the database at `db_path`."""
    return db_path.with_name(db_path.name + ".lock")


class DatabaseLock:
    """The held lock of one database; `release()` (or process death) gives it up."""

    def __init__(self, db_path: Path, fd: int) -> None:
        self.db_path = db_path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, db_path: Path) -> DatabaseLock:
        """Take the lock without waiting; raises DatabaseInUse naming the holder's pid,
        or DatabaseUnusable if the lock file cannot be created."""
        path = lock_path(db_path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise DatabaseUnusable(
                f"cannot create the lock file {path}: {error.strerror or error}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise DatabaseInUse(db_path, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(db_path, fd)

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor drops the flock


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
