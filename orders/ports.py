"""The event-store port: what the service needs from a store, free of esdbclient types.

`store.EsdbStore` implements it over EventStoreDB; revisions are zero-based stream
positions and `None` as an expected revision means "the stream must not exist".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """An event ready to append: stable type name, JSON data and metadata, fixed id."""

    id: UUID
    type: str
    data: bytes
    metadata: bytes


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as read back from a stream."""

    id: UUID
    stream: str
    revision: int
    type: str
    data: bytes
    metadata: bytes
    content_type: str
    commit_position: int | None
    recorded_at: datetime | None


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where an append landed: the stream's new last revision and the commit position."""

    revision: int
    commit_position: int


class OrderStore(Protocol):
    """Read and append order streams (`order-{order_id}`)."""

    def read(
        self, order_id: str, *, from_revision: int = 0, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        """The stream's events from `from_revision` on (at most `limit`); empty if none."""
        ...

    def append(
        self, order_id: str, expected_revision: int | None, events: Sequence[EncodedEvent]
    ) -> AppendResult:
        """Append atomically at exactly `expected_revision`; raises ConcurrencyConflict."""
        ...

    def claim(self, key: UUID, claim: EncodedEvent) -> StoredEvent | None:
        """Make `claim` the one event of the idempotency key's stream (`idempotency-{key}`).

        None when it is (just written, or written identically before); otherwise the
        different claim already there, and nothing is written.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
