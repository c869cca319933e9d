"""Page reads of the event log: streams (with their metadata applied) and `$all`.

Each read runs in one read transaction on the reader connection, so it sees one
committed snapshot of the WAL database and never a write in progress.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from esdb_emulator.log.records import (
    DELETED_STREAM_REVISION,
    RecordedEvent,
    ResolvedEvent,
    StorageError,
    StreamDeleted,
    StreamNotFound,
)
from esdb_emulator.log.schema import (
    COLUMNS,
    LINK_TYPE,
    Row,
    Synchronous,
    connect,
    is_metastream,
    metastream_of,
    parse_metadata,
)

_new = tuple.__new__
_TICKS_PER_SECOND = 10_000_000
_MAX_POSITION = 2**63 - 1

_STREAM_FORWARDS = (
    f"SELECT {COLUMNS} FROM events WHERE stream = ? AND revision BETWEEN ? AND ?"
    " AND created >= ? ORDER BY revision LIMIT ?"
)
_STREAM_BACKWARDS = (
    f"SELECT {COLUMNS} FROM events WHERE stream = ? AND revision BETWEEN ? AND ?"
    " AND created >= ? ORDER BY revision DESC LIMIT ?"
)
_ALL_FORWARDS = f"SELECT {COLUMNS} FROM events WHERE position >= ? ORDER BY position LIMIT ?"
_ALL_BACKWARDS = f"SELECT {COLUMNS} FROM events WHERE position < ? ORDER BY position DESC LIMIT ?"
_ONE_EVENT = f"SELECT {COLUMNS} FROM events WHERE stream = ? AND revision = ?"


@dataclass(frozen=True, slots=True)
class _Window:
    """The readable part of a stream: revisions first..last, created at or after
    `min_created` (100-ns ticks)."""

    first: int
    last: int
    min_created: int


class LogReader:
    """Reads on one connection, serialised by a lock (reads are short pages)."""

    def __init__(self, db_file: Path, synchronous: Synchronous) -> None:
        self._conn = connect(db_file, synchronous, writer=False)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def read_stream(
        self,
        stream: str,
        *,
        revision: int | None,
        backwards: bool,
        limit: int,
        resolve_links: bool,
    ) -> list[ResolvedEvent]:
        """See `EventLog.read_stream`."""
        limit = _clamp(limit)
        with self._snapshot():
            window = self._window(stream)
            if backwards:
                top = window.last if revision is None else min(revision, window.last)
                params = (stream, window.first, top, window.min_created, limit)
                rows = self._conn.execute(_STREAM_BACKWARDS, params).fetchall()
            else:
                bottom = window.first if revision is None else max(revision, window.first)
                if bottom > window.last:  # also keeps uint64 revisions away from SQLite
                    return []
                params = (stream, bottom, window.last, window.min_created, limit)
                rows = self._conn.execute(_STREAM_FORWARDS, params).fetchall()
            return self._resolved(rows, resolve_links)

    def read_all(
        self, *, position: int | None, backwards: bool, limit: int, resolve_links: bool
    ) -> list[ResolvedEvent]:
        """See `EventLog.read_all`."""
        limit = _clamp(limit)
        with self._snapshot():
            if backwards:
                start = _MAX_POSITION if position is None else _clamp(position)
                rows = self._conn.execute(_ALL_BACKWARDS, (start, limit)).fetchall()
            else:
                start = 0 if position is None else _clamp(position)
                rows = self._conn.execute(_ALL_FORWARDS, (start, limit)).fetchall()
            return self._resolved(rows, resolve_links)

    def stream_revision(self, stream: str) -> int | None:
        """The last revision written to `stream`, the tombstone aside."""
        with self._snapshot():
            return self._head(stream)[0]

    # -- internals -----------------------------------------------------------------

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield
            finally:
                self._conn.execute("COMMIT")

    def _resolved(self, rows: list[Row], resolve_links: bool) -> list[ResolvedEvent]:
        if not resolve_links:  # the hot path: build the tuples without Python calls
            return [_new(ResolvedEvent, (_new(RecordedEvent, row), None)) for row in rows]
        windows: dict[str, _Window | None] = {}
        resolved = []
        for row in rows:
            event = RecordedEvent(*row)
            target = self._target(event, windows) if event.type == LINK_TYPE else None
            resolved.append(
                ResolvedEvent(event) if target is None else ResolvedEvent(target, event)
            )
        return resolved

    def _target(
        self, link: RecordedEvent, windows: dict[str, _Window | None]
    ) -> RecordedEvent | None:
        """The event `link` points at, if it exists and is readable."""
        revision_text, separator, stream = link.data.decode(errors="replace").partition("@")
        if not separator or not revision_text.isdigit():
            return None
        revision = int(revision_text)
        if stream not in windows:
            try:
                windows[stream] = self._window(stream)
            except StorageError:
                windows[stream] = None
        window = windows[stream]
        if window is None or not window.first <= revision <= window.last:
            return None
        row = self._conn.execute(_ONE_EVENT, (stream, revision)).fetchone()
        if row is None or row[8] < window.min_created:
            return None
        return RecordedEvent(*row)

    def _window(self, stream: str) -> _Window:
        """The readable window of `stream`; raises StreamDeleted if it (or, for a
        `$$X` stream, X) is tombstoned, StreamNotFound if it has nothing to read."""
        if is_metastream(stream):
            if self._head(stream[2:])[1]:
                raise StreamDeleted(stream)
            last = self._head(stream)[0]
            if last is None:
                raise StreamNotFound(stream)
            return _Window(last, last, 0)  # a metastream's $maxCount is always 1
        last, tombstoned = self._head(stream)
        if tombstoned:
            raise StreamDeleted(stream)
        metadata = self._metadata(stream)
        truncate_before = _int_value(metadata, "$tb")
        if last is None or truncate_before == DELETED_STREAM_REVISION:
            raise StreamNotFound(stream)
        first = truncate_before or 0
        max_count = _int_value(metadata, "$maxCount")
        if max_count is not None and max_count > 0:
            first = max(first, last - max_count + 1)
        max_age = _int_value(metadata, "$maxAge")
        min_created = 0
        if max_age is not None and max_age > 0:
            min_created = time.time_ns() // 100 - max_age * _TICKS_PER_SECOND
        return _Window(first, last, min_created)

    def _head(self, stream: str) -> tuple[int | None, bool]:
        """The last revision (the tombstone aside) and whether it is tombstoned."""
        rows = self._conn.execute(
            "SELECT revision FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 2",
            (stream,),
        ).fetchall()
        tombstoned = bool(rows) and rows[0][0] == DELETED_STREAM_REVISION
        revisions = [row[0] for row in rows[1 if tombstoned else 0 :]]
        return (revisions[0] if revisions else None), tombstoned

    def _metadata(self, stream: str) -> dict[str, object]:
        row = self._conn.execute(
            "SELECT data FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1",
            (metastream_of(stream),),
        ).fetchone()
        return {} if row is None else parse_metadata(row[0])


def _clamp(value: int) -> int:
    """`value` within SQLite's INTEGER range and not negative (the wire has uint64)."""
    return max(0, min(value, _MAX_POSITION))


def _int_value(metadata: dict[str, object], key: str) -> int | None:
    value = metadata.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value
