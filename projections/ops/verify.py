"""The oracle: a read model must equal a fold of the event log in order.

`reference` reads every order stream from the event store and applies it in revision
order into a fresh in-memory database (through the same `BatchApplier`, so an event that
cannot be decoded blocks the rest of its stream there too). `compare` then checks that
the live read model has the same rows and that its ledger holds exactly the (stream,
revision) pairs the fold applied, each once.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from orders.ports import StoredEvent
from projections import database
from projections.batch import BatchApplier, Decode, Delivery
from projections.read_models.projection import Projection, SqlValue

Rows = list[tuple[SqlValue, ...]]


class EventLog(Protocol):
    """The order events of a log: `projections.esdb.OrderLog`, or the in-memory one."""

    def pages(self) -> Iterable[list[StoredEvent]]:
        """Order events in log order, a page at a time."""
        ...

    def stream(self, stream: str) -> list[StoredEvent]:
        """A whole stream from revision 0."""
        ...

    def read(self, stream: str, first: int, last: int) -> Sequence[StoredEvent]:
        """Revisions `first`..`last` of `stream`."""
        ...


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of comparing a read model with the reference fold."""

    projection: str
    events: int
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def order_streams(log: EventLog) -> list[str]:
    """Every order stream in the log, in order of first appearance."""
    seen: dict[str, None] = {}
    for page in log.pages():
        seen.update((e.stream, None) for e in page)
    return list(seen)


def reference(log: EventLog, projection: Projection, decode: Decode) -> sqlite3.Connection:
    """A fresh in-memory read model folded from each order stream in revision order."""
    conn = database.open_memory(projection)
    applier = BatchApplier(projection, decode, log, park_after=0)
    for stream in order_streams(log):
        deliveries = [Delivery(e, uuid.uuid4()) for e in log.stream(stream)]
        if deliveries:
            applier.apply(conn, deliveries)
    return conn


def compare(
    live: sqlite3.Connection, expected: sqlite3.Connection, projection: Projection
) -> Verification:
    """Row-for-row differences between `live` and `expected`, ledger included."""
    differences: list[str] = []
    want, got = database.dump(expected, projection), database.dump(live, projection)
    for table in projection.tables:
        differences += _diff(table, got[table], want[table])
    differences += _diff("tracking_applied", _ledger(live), _ledger(expected))
    return Verification(projection.name, len(_ledger(expected)), differences)


def verify(
    live: sqlite3.Connection, log: EventLog, projection: Projection, decode: Decode
) -> Verification:
    """Compare `live` with a reference fold of the log read now."""
    return compare(live, reference(log, projection, decode), projection)


def _ledger(conn: sqlite3.Connection) -> Rows:
    return conn.execute(
        "SELECT stream, revision FROM tracking_applied ORDER BY stream, revision"
    ).fetchall()


def _diff(table: str, got: Rows, want: Rows, limit: int = 5) -> list[str]:
    missing = sorted(set(want) - set(got), key=repr)
    extra = sorted(set(got) - set(want), key=repr)
    lines = [f"{table}: missing {row!r}" for row in missing[:limit]]
    lines += [f"{table}: unexpected {row!r}" for row in extra[:limit]]
    if len(got) != len(set(got)):
        lines.append(f"{table}: duplicate rows")
    if not lines and got != want:
        lines.append(f"{table}: rows differ")
    return lines
