"""One group-commit transaction of the log writer, and the write rules it applies.

Each request is checked completely before anything of it is written, so a request
that fails (WrongExpectedVersion, StreamDeleted) leaves no trace while the others
of the same transaction still commit. Stream heads and recently written event ids
are staged in overlays and adopted by the writer's caches only after COMMIT.
The rules are EventStoreDB's (see shared/docs/esdb-protocol.md 1.3 and 1.5).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from esdb_emulator.log.records import (
    DELETED_STREAM_REVISION,
    AppendResult,
    DeleteResult,
    ExpectedRevision,
    ProposedEvent,
    StreamDeleted,
    WrongExpectedVersion,
)
from esdb_emulator.log.schema import (
    METADATA_TYPE,
    RECORD_OVERHEAD,
    TOMBSTONE_TYPE,
    insert_rows,
    is_metastream,
    metastream_of,
    parse_metadata,
)


@dataclass(frozen=True, slots=True)
class StreamHead:
    """What the writer knows of a stream: its last revision (the tombstone aside),
    whether it is tombstoned and, for a `$$X` stream, X's current metadata."""

    last_revision: int | None
    tombstoned: bool = False
    metadata: dict[str, object] | None = None


@dataclass(frozen=True, slots=True)
class AppendOp:
    """Append `events` to `stream` if `expected` holds."""

    stream: str
    expected: ExpectedRevision
    events: Sequence[ProposedEvent]


@dataclass(frozen=True, slots=True)
class DeleteOp:
    """Soft-delete `stream` if `expected` holds."""

    stream: str
    expected: ExpectedRevision


@dataclass(frozen=True, slots=True)
class TombstoneOp:
    """Tombstone `stream` if `expected` holds."""

    stream: str
    expected: ExpectedRevision


Op = AppendOp | DeleteOp | TombstoneOp


class RecentIds:
    """Where recently committed event ids were written, for best-effort idempotency
    of `any` and `stream_exists` appends, bounded like EventStoreDB's 8 MiB
    committed-events cache (an entry costs `id_cost` bytes).

    Two generations of plain dicts: when the young one has cost half the budget
    it becomes the old one and the previous old one is dropped, so the newest
    half-budget of ids is always remembered, and never more than the budget.
    """

    def __init__(self, budget_bytes: int = 8 * 1024 * 1024) -> None:
        self._young: dict[str, int] = {}
        self._old: dict[str, int] = {}
        self._young_cost = 0
        self._half_budget = budget_bytes // 2

    def get(self, event_id: str) -> int | None:
        """The commit position `event_id` was last written at, if still remembered."""
        position = self._young.get(event_id)
        return self._old.get(event_id) if position is None else position

    def add_all(self, entries: dict[str, int], cost: int) -> None:
        """Remember `entries`, which cost `cost` bytes together."""
        self._young.update(entries)
        self._young_cost += cost
        if self._young_cost >= self._half_budget:
            self._old, self._young, self._young_cost = self._young, {}, 0


def id_cost(stream: str) -> int:
    """What an id written to `stream` costs in EventStoreDB's cache."""
    return 28 + 2 * len(stream)


class HeadCache:
    """Stream heads by name, loaded on demand; the oldest tenth is dropped when full."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._heads: dict[str, StreamHead] = {}
        self._capacity = capacity

    def get(self, stream: str) -> StreamHead | None:
        """The cached head of `stream`, if any."""
        return self._heads.get(stream)

    def update(self, heads: dict[str, StreamHead]) -> None:
        """Adopt `heads` (committed), evicting old entries beyond capacity."""
        self._heads.update(heads)
        if len(self._heads) > self._capacity:
            for stream in list(self._heads)[: self._capacity // 10]:
                del self._heads[stream]


class Transaction:
    """The requests of one `BEGIN IMMEDIATE ... COMMIT`, applied in order.

    `position` is the commit position of the last record written so far; `apply`
    raises a StorageError for a request that must fail, having written nothing.
    """

    def __init__(
        self, conn: sqlite3.Connection, heads: HeadCache, ids: RecentIds, position: int
    ) -> None:
        self.position = position
        self._conn = conn
        self._heads = heads
        self._ids = ids
        self._staged_heads: dict[str, StreamHead] = {}
        self._staged_ids: dict[str, int] = {}
        self._staged_ids_cost = 0
        self._created = time.time_ns() // 100

    def apply(self, op: Op) -> AppendResult | DeleteResult:
        """Check and write one request."""
        if isinstance(op, AppendOp):
            return self._append(op)
        if isinstance(op, DeleteOp):
            return self._delete(op)
        return self._tombstone(op)

    def adopt(self) -> None:
        """Hand the staged heads and ids to the caches; call after COMMIT only."""
        self._heads.update(self._staged_heads)
        self._ids.add_all(self._staged_ids, self._staged_ids_cost)

    # -- the rules ------------------------------------------------------------

    def _append(self, op: AppendOp) -> AppendResult:
        head = self._head(op.stream)
        if head.tombstoned:
            raise StreamDeleted(op.stream)
        metadata = self._metadata(op.stream)
        soft_deleted = metadata.get("$tb") == DELETED_STREAM_REVISION
        replayed = self._check_append(op, head.last_revision, soft_deleted)
        if replayed is not None:
            return replayed
        current = -1 if head.last_revision is None else head.last_revision
        if not op.events:
            return AppendResult(current_revision=current, position=self.position)
        if soft_deleted:
            # Undelete: truncate before the first new event, keeping the other keys.
            self._write_metadata(op.stream, {**metadata, "$tb": current + 1})
        last, position = self._write(op.stream, current + 1, op.events)
        return AppendResult(current_revision=last, position=position)

    def _check_append(
        self, op: AppendOp, current: int | None, soft_deleted: bool
    ) -> AppendResult | None:
        """None if the events are to be written, the original result if they were
        already; raises WrongExpectedVersion or StreamDeleted."""
        expected = op.expected
        if expected == "any":
            return self._recently_written(op, current)
        if expected == "stream_exists":
            if soft_deleted:
                raise StreamDeleted(op.stream)
            if current is None:
                raise WrongExpectedVersion(op.stream, expected, None)
            return self._recently_written(op, current)
        if expected == "no_stream":
            if current is None or soft_deleted:
                return None
            return self._replayed(op, 0, current)
        if expected == current:
            return None
        if current is not None and expected < current:
            return self._replayed(op, expected + 1, current)
        raise WrongExpectedVersion(op.stream, expected, current)

    def _replayed(self, op: AppendOp, first: int, current: int | None) -> AppendResult:
        """The original result if `op.events` are stored from revision `first` on;
        else WrongExpectedVersion (none of them are, or only some: corrupted
        idempotency)."""
        last = first + len(op.events) - 1
        written = self._conn.execute(
            "SELECT event_id, position FROM events"
            " WHERE stream = ? AND revision BETWEEN ? AND ? ORDER BY revision",
            (op.stream, first, last),
        ).fetchall()
        if not op.events or [row[0] for row in written] != [e.event_id for e in op.events]:
            raise WrongExpectedVersion(op.stream, op.expected, current)
        return AppendResult(current_revision=last, position=written[-1][1])

    def _recently_written(self, op: AppendOp, current: int | None) -> AppendResult | None:
        """Best effort for `any`/`stream_exists`: if the first event id was
        recently written to this stream, the original result (or, if the others do
        not follow it there, WrongExpectedVersion); None if it was not."""
        if not op.events:
            return None
        event_id = op.events[0].event_id
        position = self._staged_ids.get(event_id) or self._ids.get(event_id)
        if position is None:
            return None
        stream, first = self._conn.execute(
            "SELECT stream, revision FROM events WHERE position = ?", (position,)
        ).fetchone()
        if stream != op.stream:
            return None
        return self._replayed(op, first, current)

    def _delete(self, op: DeleteOp) -> DeleteResult:
        head = self._head(op.stream)
        if head.tombstoned:
            raise StreamDeleted(op.stream)
        metadata = self._metadata(op.stream)
        soft_deleted = metadata.get("$tb") == DELETED_STREAM_REVISION
        current, expected = head.last_revision, op.expected
        if current is None:
            raise WrongExpectedVersion(op.stream, expected, None)
        if expected == "stream_exists" and soft_deleted:
            raise StreamDeleted(op.stream)
        if expected == "no_stream" and not soft_deleted:
            raise WrongExpectedVersion(op.stream, expected, current)
        if isinstance(expected, int) and expected != current:
            raise WrongExpectedVersion(op.stream, expected, current)
        position = self._write_metadata(op.stream, {**metadata, "$tb": DELETED_STREAM_REVISION})
        return DeleteResult(position=position)

    def _tombstone(self, op: TombstoneOp) -> DeleteResult:
        head = self._head(op.stream)
        if head.tombstoned:
            raise StreamDeleted(op.stream)
        soft_deleted = self._metadata(op.stream).get("$tb") == DELETED_STREAM_REVISION
        current, expected = head.last_revision, op.expected
        if expected == "stream_exists":
            if soft_deleted:
                raise StreamDeleted(op.stream)
            if current is None:
                raise WrongExpectedVersion(op.stream, expected, None)
        elif expected == "no_stream":
            if current is not None and not soft_deleted:
                raise WrongExpectedVersion(op.stream, expected, current)
        elif isinstance(expected, int) and expected != current:
            raise WrongExpectedVersion(op.stream, expected, current)
        tombstone = ProposedEvent(
            event_id=str(uuid.uuid4()),
            type=TOMBSTONE_TYPE,
            content_type="application/octet-stream",
            metadata=b"",
            data=b"",
        )
        _, position = self._write(op.stream, DELETED_STREAM_REVISION, [tombstone])
        self._staged_heads[op.stream] = StreamHead(current, tombstoned=True)
        return DeleteResult(position=position)

    # -- state and writing ------------------------------------------------------

    def _head(self, stream: str) -> StreamHead:
        head = self._staged_heads.get(stream) or self._heads.get(stream)
        if head is None:
            head = self._load_head(stream)
            self._staged_heads[stream] = head
        return head

    def _load_head(self, stream: str) -> StreamHead:
        rows = self._conn.execute(
            "SELECT revision FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 2",
            (stream,),
        ).fetchall()
        tombstoned = bool(rows) and rows[0][0] == DELETED_STREAM_REVISION
        revisions = [row[0] for row in rows[1 if tombstoned else 0 :]]
        last = revisions[0] if revisions else None
        metadata = None
        if is_metastream(stream) and last is not None:
            (data,) = self._conn.execute(
                "SELECT data FROM events WHERE stream = ? AND revision = ?", (stream, last)
            ).fetchone()
            metadata = parse_metadata(data)
        return StreamHead(last, tombstoned, metadata)

    def _metadata(self, stream: str) -> dict[str, object]:
        """The current metadata of `stream` ({} for a `$$` stream or none set)."""
        if is_metastream(stream):
            return {}
        return self._head(metastream_of(stream)).metadata or {}

    def _write_metadata(self, stream: str, metadata: dict[str, object]) -> int:
        metastream = metastream_of(stream)
        head = self._head(metastream)
        event = ProposedEvent(
            event_id=str(uuid.uuid4()),
            type=METADATA_TYPE,
            content_type="application/json",
            metadata=b"",
            data=json.dumps(metadata, separators=(",", ":")).encode(),
        )
        first = 0 if head.last_revision is None else head.last_revision + 1
        _, position = self._write(metastream, first, [event])
        return position

    def _write(
        self, stream: str, first_revision: int, events: Sequence[ProposedEvent]
    ) -> tuple[int, int]:
        """Insert `events` from `first_revision`; the last revision and position."""
        position, created, staged_ids = self.position, self._created, self._staged_ids
        base_size = RECORD_OVERHEAD + len(stream)
        values: list[object] = []
        add = values.extend
        revision = first_revision
        for event in events:
            event_id, event_type, metadata, data = (
                event.event_id, event.type, event.metadata, event.data)  # fmt: skip
            position += base_size + len(event_type) + len(metadata) + len(data)
            add((position, stream, revision, event_id, event_type,
                 event.content_type, metadata, data, created))  # fmt: skip
            staged_ids[event_id] = position
            revision += 1
        insert_rows(self._conn, values)
        self._staged_ids_cost += len(events) * id_cost(stream)
        self.position = position
        metadata_of = parse_metadata(events[-1].data) if is_metastream(stream) else None
        self._staged_heads[stream] = StreamHead(revision - 1, False, metadata_of)
        return revision - 1, position
