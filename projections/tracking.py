"""Tracking tables kept in each read model's SQLite file, written in the batch's transaction.

- `tracking_positions`: per source stream, the last revision applied (the order guard).
- `tracking_applied`: one row per applied (stream, revision) — the dedup ledger the oracle
  checks ("each (stream, revision) once"); its primary key makes a second insert fail.
- `tracking_meta`: the projection's name, the generation fence (`retired`), counters and
  the highest commit position applied.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping

from orders.ports import StoredEvent

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS tracking_positions (
        stream TEXT PRIMARY KEY,
        revision INTEGER NOT NULL,
        updated_at REAL NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS tracking_applied (
        stream TEXT NOT NULL,
        revision INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        commit_position INTEGER,
        PRIMARY KEY (stream, revision)
    ) WITHOUT ROWID
    """,
    "CREATE TABLE IF NOT EXISTS tracking_meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
)

COUNTERS = ("events_applied", "duplicates_skipped", "gap_events_read", "events_failed")
"""Running totals kept in `tracking_meta` (never part of the read model's contents)."""

_NO_REVISION = -1
_IN_LIMIT = 500  # bound parameters per query (SQLite allows 32766)


def last_revisions(conn: sqlite3.Connection, streams: Iterable[str]) -> dict[str, int]:
    """Per stream, the last revision applied (-1 when none); read inside the transaction."""
    found = dict.fromkeys(streams, _NO_REVISION)
    names = list(found)
    for start in range(0, len(names), _IN_LIMIT):
        chunk = names[start : start + _IN_LIMIT]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT stream, revision FROM tracking_positions WHERE stream IN ({marks})", chunk
        )
        found.update((str(stream), int(revision)) for stream, revision in rows)
    return found


def record_applied(conn: sqlite3.Connection, stored: StoredEvent) -> None:
    """Add (stream, revision) to the ledger; IntegrityError if it was applied before."""
    conn.execute(
        "INSERT INTO tracking_applied (stream, revision, event_id, commit_position)"
        " VALUES (?, ?, ?, ?)",
        (stored.stream, stored.revision, str(stored.id), stored.commit_position),
    )


def advance(
    conn: sqlite3.Connection,
    positions: Mapping[str, int],
    counters: Mapping[str, int],
    max_commit_position: int | None,
) -> None:
    """Record the streams' new last revisions, bump counters and the high-water mark."""
    now = time.time()
    conn.executemany(
        "INSERT INTO tracking_positions (stream, revision, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (stream) DO UPDATE SET revision = excluded.revision,"
        " updated_at = excluded.updated_at",
        [(stream, revision, now) for stream, revision in positions.items()],
    )
    updates: list[tuple[str, float]] = [(k, n) for k, n in counters.items() if n]
    if positions:
        updates.append(("last_applied_at", now))
    if max_commit_position is not None:
        updates.append(("max_commit_position", max_commit_position))
    for name, amount in updates:
        _bump(conn, name, amount)


def read_meta(conn: sqlite3.Connection) -> dict[str, object]:
    """All of `tracking_meta` as a dict."""
    return {str(k): v for k, v in conn.execute("SELECT key, value FROM tracking_meta")}


def is_retired(conn: sqlite3.Connection) -> bool:
    """True once a rebuild has swapped another generation in (see rebuild.py)."""
    row = conn.execute("SELECT value FROM tracking_meta WHERE key = 'retired'").fetchone()
    return bool(row and row[0])


def retire(conn: sqlite3.Connection) -> None:
    """Mark this generation retired; call inside the transaction that fences it."""
    set_meta(conn, "retired", 1)


def set_meta(conn: sqlite3.Connection, key: str, value: object) -> None:
    """Set one `tracking_meta` entry."""
    conn.execute(
        "INSERT INTO tracking_meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _bump(conn: sqlite3.Connection, name: str, amount: float) -> None:
    if name in COUNTERS:
        sql = "value = coalesce(value, 0) + excluded.value"
    elif name == "max_commit_position":
        sql = "value = max(coalesce(value, 0), excluded.value)"
    else:
        sql = "value = excluded.value"
    conn.execute(
        f"INSERT INTO tracking_meta (key, value) VALUES (?, ?)"
        f" ON CONFLICT (key) DO UPDATE SET {sql}",
        (name, amount),
    )
