"""Opening read-model SQLite files: WAL, a busy timeout, durable commits, schema in place.

Several worker processes may write one file: each batch is a `BEGIN IMMEDIATE` transaction
(one writer at a time, the others wait up to `busy_timeout`), so the per-stream revision
check inside it sees every earlier commit.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from projections import tracking
from projections.errors import ReadModelMissing, WrongReadModel
from projections.location import ReadModelFile
from projections.read_models.projection import Projection, SqlValue

BUSY_TIMEOUT_S = 30.0
_OPEN_ATTEMPTS = 5


def connect(path: Path, *, mode: str = "rw", synchronous: str = "FULL") -> sqlite3.Connection:
    """Open `path` (`mode` "rw", "rwc" to create, or "ro") in autocommit mode.

    `synchronous=FULL` (the default) makes a committed batch survive power loss, so an
    ack after COMMIT never acknowledges something a crash could take back.
    """
    uri = f"file:{quote(str(path))}?mode={mode}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    if mode != "ro":
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


def prepare(conn: sqlite3.Connection, projection: Projection) -> None:
    """Create the tracking and read-model tables if missing and claim the file for
    `projection`; raises WrongReadModel if it belongs to another one."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for ddl in (*tracking.SCHEMA, *projection.schema):
            conn.execute(ddl)
        owner = tracking.read_meta(conn).get("projection")
        if owner is None:
            tracking.set_meta(conn, "projection", projection.name)
        elif owner != projection.name:
            raise WrongReadModel(
                f"this file holds the {owner!r} read model, not {projection.name!r}"
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def open_live(location: ReadModelFile, projection: Projection) -> tuple[sqlite3.Connection, Path]:
    """Open (creating if needed) the live generation of a read model, ready to write.

    The symlink can move between resolving and opening (a rebuild, a pruned generation):
    opening never creates a missing generation file, it resolves again instead.
    """
    for _ in range(_OPEN_ATTEMPTS):
        live = location.current() or _create_first(location, projection)
        try:
            conn = connect(live)
        except sqlite3.OperationalError:
            continue  # the generation went away between resolving and opening
        prepare(conn, projection)
        return conn, live
    raise ReadModelMissing(f"cannot open the live generation of {location.path}")


def open_for_reading(location: ReadModelFile) -> sqlite3.Connection:
    """A read-only connection to the live generation; raises ReadModelMissing."""
    live = location.current()
    if live is None or not live.exists():
        raise ReadModelMissing(
            f"no read model at {location.path}: start a worker (projections run) or rebuild it"
        )
    return connect(live, mode="ro")


def open_new(path: Path, projection: Projection) -> sqlite3.Connection:
    """Create a fresh generation file at `path` with its schema."""
    conn = connect(path, mode="rwc")
    prepare(conn, projection)
    return conn


def open_memory(projection: Projection) -> sqlite3.Connection:
    """An in-memory read model (the oracle's reference fold)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    prepare(conn, projection)
    return conn


def dump(conn: sqlite3.Connection, projection: Projection) -> dict[str, list[tuple[SqlValue, ...]]]:
    """Every row of the projection's own tables, in key order (tracking tables excluded)."""
    return {
        table: conn.execute(f"SELECT * FROM {table} ORDER BY {', '.join(key)}").fetchall()
        for table, key in projection.tables.items()
    }


def _create_first(location: ReadModelFile, projection: Projection) -> Path:
    generation = location.new_generation()
    open_new(generation, projection).close()
    live = location.link_first(generation)
    if live != generation:
        location.remove_generation(generation)  # another process linked its own first
    return live
