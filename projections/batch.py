"""Applying a batch of delivered events exactly once and in stream order.

Delivery may duplicate and reorder events (persistent subscriptions are at-least-once and
unordered). In one `BEGIN IMMEDIATE` transaction, per source stream:

- revision <= last applied: a duplicate; acked, no effect;
- revision == last + 1: applied, recorded in the ledger, acked;
- revision > last + 1: a gap; the missing revisions are read from the stream itself and
  applied first, so nothing is ever applied out of order;
- an event that cannot be decoded or applied fails, and so does every later revision of
  its stream in the batch (they would be out of order): nacked `retry`, or `park` once
  the delivery's `retry_count` reaches `park_after`. Other streams keep flowing.

Acks are returned, never sent: the caller acks only after the COMMIT succeeded.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias
from uuid import UUID

from orders.codec import RecordedOrderEvent
from orders.ports import StoredEvent
from orders.streams import is_order_stream
from projections import tracking
from projections.errors import GenerationRetired
from projections.read_models.projection import Projection, Statement

Decode: TypeAlias = Callable[[StoredEvent], RecordedOrderEvent]
NackAction: TypeAlias = Literal["retry", "park"]

# SQLite errors that say nothing about the event: retry the whole batch later.
_TRANSIENT_SQLITE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_FULL",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
)


Prepared: TypeAlias = Sequence[Statement] | str
"""An event's statements, or why it cannot be applied."""


class _StatementFailed(Exception):
    def __init__(self, key: tuple[str, int], error: str) -> None:
        super().__init__(error)
        self.key, self.error = key, error


class GapReader(Protocol):
    """Reads revisions `first`..`last` (inclusive) of a stream from the event store."""

    def read(self, stream: str, first: int, last: int) -> Sequence[StoredEvent]: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivered event: what to apply, the id to (n)ack, and how often it was retried."""

    stored: StoredEvent
    ack_id: UUID
    retry_count: int = 0


@dataclass(frozen=True, slots=True)
class Failure:
    """A delivery that could not be applied, the reason, and the nack action to send."""

    delivery: Delivery
    error: str
    action: NackAction


@dataclass(slots=True)
class BatchOutcome:
    """What to send after COMMIT, and what happened."""

    acks: list[UUID] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    applied: int = 0
    skipped: list[tuple[str, int]] = field(default_factory=list)
    """(stream, revision) of each delivery at or below its stream's applied revision."""
    gap_events: int = 0
    ignored: int = 0

    @property
    def duplicates(self) -> int:
        """How many deliveries were duplicates (already applied), acked unapplied."""
        return len(self.skipped)


def is_transient(error: sqlite3.Error) -> bool:
    """True for database errors unrelated to the event (locked, disk full, I/O)."""
    name = getattr(error, "sqlite_errorname", "") or ""
    return name.startswith(_TRANSIENT_SQLITE)


class BatchApplier:
    """Applies batches of deliveries for one projection (see the module docstring)."""

    def __init__(
        self, projection: Projection, decode: Decode, gaps: GapReader, *, park_after: int = 3
    ) -> None:
        self.projection = projection
        self.decode = decode
        self.gaps = gaps
        self.park_after = park_after

    def apply(self, conn: sqlite3.Connection, deliveries: Sequence[Delivery]) -> BatchOutcome:
        """Apply `deliveries` in one transaction and say what to ack and nack.

        Raises GenerationRetired (rolled back) when a rebuild replaced this generation,
        and lets transient sqlite3 and event-store errors through (rolled back, nothing
        to ack: the caller retries the batch or reconnects).
        """
        prepared = {_key(d.stored): self.prepare(d.stored) for d in deliveries}
        while True:
            try:
                return self._attempt(conn, deliveries, prepared)
            except _StatementFailed as failed:
                # Rare: rather than a savepoint per event, run the batch again with this
                # event known to fail (statements are deterministic, so it converges).
                prepared[failed.key] = failed.error

    def _attempt(
        self,
        conn: sqlite3.Connection,
        deliveries: Sequence[Delivery],
        prepared: dict[tuple[str, int], Prepared],
    ) -> BatchOutcome:
        outcome = BatchOutcome()
        streams = _by_stream(deliveries, outcome)
        conn.execute("BEGIN IMMEDIATE")
        try:
            if tracking.is_retired(conn):
                raise GenerationRetired("this read-model generation was replaced by a rebuild")
            run = _Run(self, conn, outcome, prepared)
            for stream, last in tracking.last_revisions(conn, streams).items():
                run.stream(streams[stream], last)
            tracking.advance(conn, run.positions, _counters(outcome), run.max_commit_position)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                conn.execute("ROLLBACK")
            raise
        return outcome

    def prepare(self, stored: StoredEvent) -> Prepared:
        """Decode `stored` and compute its statements (pure); a string is the error."""
        try:
            return self.projection.apply(self.decode(stored))
        except Exception as e:  # noqa: BLE001  any decode/apply error makes the event poison, never the worker
            return f"{type(e).__name__}: {e}"

    def action_for(self, delivery: Delivery) -> NackAction:
        """`park` once the delivery has been retried `park_after` times, else `retry`."""
        return "park" if delivery.retry_count >= self.park_after else "retry"


class _Run:
    """The state of one batch inside its transaction."""

    def __init__(
        self,
        applier: BatchApplier,
        conn: sqlite3.Connection,
        outcome: BatchOutcome,
        prepared: dict[tuple[str, int], Prepared],
    ) -> None:
        self.applier = applier
        self.conn = conn
        self.outcome = outcome
        self.prepared = prepared
        self.positions: dict[str, int] = {}
        self.max_commit_position: int | None = None

    def stream(self, deliveries: list[Delivery], last: int) -> None:
        """Apply one stream's deliveries (sorted by revision) after revision `last`."""
        cursor = last
        blocked: str | None = None  # the error of this stream's first event that failed
        for delivery in deliveries:
            stored = delivery.stored
            if stored.revision <= cursor:
                self.outcome.skipped.append((stored.stream, stored.revision))
                self.outcome.acks.append(delivery.ack_id)
                continue
            if blocked is None and stored.revision > cursor + 1:
                blocked = self._fill_gap(stored.stream, cursor + 1, stored.revision - 1)
                cursor = self.positions.get(stored.stream, cursor)
            if blocked is not None:
                self._fail(delivery, f"{_describe(stored, 'blocked behind')} {blocked}")
                continue
            blocked = self._apply(stored, self._prepared(stored))
            if blocked is not None:
                self._fail(delivery, blocked)
                continue
            cursor = stored.revision
            self.outcome.acks.append(delivery.ack_id)

    def _fill_gap(self, stream: str, first: int, last: int) -> str | None:
        """Read and apply revisions first..last; the error of the first that fails."""
        events = self.applier.gaps.read(stream, first, last)
        expected = list(range(first, last + 1))
        if [e.revision for e in events] != expected:
            return f"{stream}@{first}..{last} cannot be read back from the stream (gap)"
        for stored in events:
            error = self._apply(stored, self._prepared(stored))
            if error is not None:
                return error
            self.outcome.gap_events += 1
        return None

    def _prepared(self, stored: StoredEvent) -> Prepared:
        key = _key(stored)
        if key not in self.prepared:
            self.prepared[key] = self.applier.prepare(stored)
        return self.prepared[key]

    def _apply(self, stored: StoredEvent, statements: Prepared) -> str | None:
        """Run one event's statements and its ledger row; the error, if it is poison.

        A statement failing for this event (a constraint, ...) raises _StatementFailed: the
        whole batch is rolled back and run again with this event failing up front.
        """
        if isinstance(statements, str):
            return _describe(stored, statements)
        try:
            for sql, params in statements:
                self.conn.execute(sql, params)
            tracking.record_applied(self.conn, stored)
        except sqlite3.Error as e:
            if is_transient(e) or not self.conn.in_transaction:
                raise  # not this event's fault (or SQLite dropped the transaction): whole batch
            error = _describe(stored, f"apply failed: {type(e).__name__}: {e}")
            raise _StatementFailed(_key(stored), error) from e
        self.outcome.applied += 1
        self.positions[stored.stream] = stored.revision
        if stored.commit_position is not None:
            self.max_commit_position = max(self.max_commit_position or 0, stored.commit_position)
        return None

    def _fail(self, delivery: Delivery, error: str) -> None:
        action = self.applier.action_for(delivery)
        self.outcome.failures.append(Failure(delivery, error, action))


def _by_stream(deliveries: Sequence[Delivery], outcome: BatchOutcome) -> dict[str, list[Delivery]]:
    """Order-stream deliveries grouped per stream and sorted by revision; others acked."""
    streams: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        if is_order_stream(delivery.stored.stream):
            streams.setdefault(delivery.stored.stream, []).append(delivery)
        else:
            outcome.ignored += 1
            outcome.acks.append(delivery.ack_id)
    for items in streams.values():
        items.sort(key=lambda d: d.stored.revision)
    return streams


def _counters(outcome: BatchOutcome) -> dict[str, int]:
    return {
        "events_applied": outcome.applied,
        "duplicates_skipped": outcome.duplicates,
        "gap_events_read": outcome.gap_events,
        "events_failed": len(outcome.failures),
    }


def _key(stored: StoredEvent) -> tuple[str, int]:
    return stored.stream, stored.revision


def _describe(stored: StoredEvent, error: str) -> str:
    return f"{stored.stream}@{stored.revision} ({stored.type}): {error}".rstrip()
