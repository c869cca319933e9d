"""The event log's SQLite schema, connection settings and record layout.

One row per record of `$all`: its commit position is the rowid, so `$all` reads are
rowid range scans and commit order equals position order. Streams are reached
through the unique index on (stream, revision); there is deliberately no index on
`event_id` (EventStoreDB allows one id in several streams).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from pathlib import Path
from typing import Literal, TypeAlias

from esdb_emulator.log.records import DELETED_STREAM_REVISION

Synchronous: TypeAlias = Literal["FULL", "NORMAL", "OFF"]

#: A stored row, in `COLUMNS` order (the field order of `RecordedEvent`).
Row: TypeAlias = tuple[int, str, int, str, str, str, bytes, bytes, int]

COLUMNS = "position, stream, revision, event_id, type, content_type, metadata, data, created"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    position     INTEGER PRIMARY KEY,
    stream       TEXT    NOT NULL,
    revision     INTEGER NOT NULL,
    event_id     TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    metadata     BLOB    NOT NULL,
    data         BLOB    NOT NULL,
    created      INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_stream ON events (stream, revision);
CREATE TABLE IF NOT EXISTS node (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
-- {DELETED_STREAM_REVISION} (the tombstone revision) fits SQLite's signed 64-bit INTEGER.
"""

INSERT = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
#: Rows one INSERT statement writes at most (`insert_rows`).
MAX_ROWS_PER_INSERT = 128
#: Statements each connection keeps prepared: every INSERT size, and the rest.
CACHED_STATEMENTS = MAX_ROWS_PER_INSERT + 64
_COLUMN_COUNT = 9

#: Bytes a record costs in the log besides its stream name, type, metadata and data
#: (like the header of an EventStoreDB prepare record): each record's position is
#: the previous one plus its size, so positions have gaps like byte offsets.
RECORD_OVERHEAD = 88

TOMBSTONE_TYPE = "$streamDeleted"
METADATA_TYPE = "$metadata"
LINK_TYPE = "$>"
METASTREAM_PREFIX = "$$"


def connect(db_file: Path, synchronous: Synchronous, *, writer: bool) -> sqlite3.Connection:
    """Open `db_file` in WAL mode, autocommit (transactions are explicit)."""
    # Not bound to the opening thread: each connection has one owner at a time, and
    # the reader is additionally guarded by a lock.
    conn = sqlite3.connect(
        db_file,
        isolation_level=None,
        check_same_thread=False,
        timeout=30.0,
        cached_statements=CACHED_STATEMENTS,
    )
    # 8 KiB pages (effective when the file is created): ~10% less CPU per appended
    # event than 4 KiB at the same single-commit latency; 16 KiB slows small commits.
    conn.execute("PRAGMA page_size=8192")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
    conn.execute("PRAGMA temp_store=MEMORY")
    if not writer:
        conn.execute("PRAGMA query_only=ON")
        conn.execute("PRAGMA mmap_size=1073741824")  # page reads without a copy per page
    return conn


def insert_rows(conn: sqlite3.Connection, values: list[object]) -> None:
    """Insert rows given as one flat list of column values (`COLUMNS` order).

    A multi-row `INSERT ... VALUES (...), (...)` per 128 rows, cheaper than
    `executemany` because each row is no longer a separate call into SQLite. Each
    size is prepared once and kept in the connection's statement cache."""
    per_statement = MAX_ROWS_PER_INSERT * _COLUMN_COUNT
    for start in range(0, len(values), per_statement):
        chunk = values[start : start + per_statement]
        conn.execute(_insert_sql(len(chunk) // _COLUMN_COUNT), chunk)


@functools.cache
def _insert_sql(rows: int) -> str:
    placeholders = "(" + ", ".join(["?"] * _COLUMN_COUNT) + ")"
    return "INSERT INTO events VALUES " + ", ".join([placeholders] * rows)


def metastream_of(stream: str) -> str:
    """The name of the metadata stream of `stream` (`$$stream`)."""
    return METASTREAM_PREFIX + stream


def is_metastream(stream: str) -> bool:
    """True for `$$X` streams, which hold the metadata of stream X."""
    return stream.startswith(METASTREAM_PREFIX)


def parse_metadata(data: bytes) -> dict[str, object]:
    """Stream metadata from a `$metadata` event's data; {} if it is not a JSON object."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
