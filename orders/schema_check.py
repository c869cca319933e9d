"""The schema check: does every stored order event decode to the current model?

Decodes each event through `orders.codec.decode` (so through the upcaster chain), as
every read path does, and tallies per stored (type, schema_version): how many there are,
how many decode, and what they become. Reads only; never writes to the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from orders.codec import decode
from orders.errors import EventDecodeError
from orders.ports import StoredEvent
from upcasters.chain import path
from upcasters.errors import UnknownEventVersion
from upcasters.registry import is_current

MAX_FAILURES_KEPT = 50


@runtime_checkable
class EventScanner(Protocol):
    """Something that yields every stored order event (`orders.store.EsdbStore.scan`)."""

    def scan(self) -> Iterator[StoredEvent]: ...


@dataclass(slots=True)
class SchemaRow:
    """The events stored as one (type, version); `version` None: unreadable metadata."""

    stored_type: str
    version: int | None
    count: int = 0
    decoded: int = 0

    @property
    def ok(self) -> bool:
        """True when every event of this schema decodes."""
        return self.decoded == self.count

    @property
    def becomes(self) -> str:
        """What the chain makes of this schema: `OrderPlaced v3`, or why nothing."""
        if self.version is None:
            return "unreadable metadata"
        if is_current((self.stored_type, self.version)):
            return f"{self.stored_type} v{self.version} (current)"
        try:
            last = path(self.stored_type, self.version)[-1]
        except UnknownEventVersion:
            return "no upcaster"
        return f"{last.target_type} v{last.target_version}"


@dataclass(frozen=True, slots=True)
class Failure:
    """One event that does not decode, and why (the message names all four coordinates)."""

    stream: str
    revision: int
    stored_type: str
    version: int | None
    message: str


@dataclass(slots=True)
class SchemaReport:
    """The tally over every scanned event; `failures` keeps the first MAX_FAILURES_KEPT."""

    rows: dict[tuple[str, int | None], SchemaRow] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)

    @property
    def events(self) -> int:
        """How many events were scanned."""
        return sum(row.count for row in self.rows.values())

    @property
    def failed(self) -> int:
        """How many events do not decode."""
        return sum(row.count - row.decoded for row in self.rows.values())

    @property
    def ok(self) -> bool:
        """True when every scanned event decodes to the current model."""
        return self.failed == 0

    def sorted_rows(self) -> list[SchemaRow]:
        """The rows by type, then version (unreadable versions last)."""
        return sorted(self.rows.values(), key=lambda r: (r.stored_type, r.version or 10**9))


def check(events: Iterable[StoredEvent]) -> SchemaReport:
    """Decode every event of `events` and tally the outcome per stored schema."""
    report = SchemaReport()
    for stored in events:
        try:
            version: int | None = decode(stored).stored_version
            error = None
        except EventDecodeError as e:
            version, error = e.version, e
        row = report.rows.get((stored.type, version))
        if row is None:
            row = report.rows[stored.type, version] = SchemaRow(stored.type, version)
        row.count += 1
        if error is None:
            row.decoded += 1
        elif len(report.failures) < MAX_FAILURES_KEPT:
            failure = Failure(stored.stream, stored.revision, stored.type, version, str(error))
            report.failures.append(failure)
    return report
