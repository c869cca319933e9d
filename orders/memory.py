"""An in-memory `OrderStore`: the write side's fake, for tests and scripts without a server.

It keeps one log in commit order, as EventStoreDB's `$all` does, and follows the same
rules the contract tests (`tests/contract/`) check against the real server: revisions from
0, an append only at the exact expected revision (else ConcurrencyConflict), EventStoreDB's
idempotent append (the same event ids at the same expected revision write nothing and
return the first result), and one claim per idempotency key. Thread-safe; no durability.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from uuid import UUID

from orders.errors import ConcurrencyConflict
from orders.ports import AppendResult, EncodedEvent, StoredEvent
from orders.streams import is_order_stream, key_stream_name, stream_name

_POSITION_STEP = 64  # gaps between commit positions, as a real log has


class InMemoryOrderStore:
    """Order streams and idempotency claims in one in-memory log."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._log: list[StoredEvent] = []
        self._streams: dict[str, list[StoredEvent]] = {}

    def read(
        self, order_id: str, *, from_revision: int = 0, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        """The stream's events from `from_revision` on (at most `limit`); empty if none."""
        with self._lock:
            events = self._streams.get(stream_name(order_id), [])
            end = None if limit is None else from_revision + limit
            return tuple(events[from_revision:end])

    def append(
        self, order_id: str, expected_revision: int | None, events: Sequence[EncodedEvent]
    ) -> AppendResult:
        """Append atomically at exactly `expected_revision`; raises ConcurrencyConflict."""
        return self._append(stream_name(order_id), expected_revision, events)

    def claim(self, key: UUID, claim: EncodedEvent) -> StoredEvent | None:
        """The first claim of `key` wins; None when it is `claim` itself (same id)."""
        stream = key_stream_name(key)
        try:
            self._append(stream, None, [claim])
        except ConcurrencyConflict:
            with self._lock:
                holder = self._streams[stream][0]
            return None if holder.id == claim.id else holder
        return None

    def scan(self) -> Iterator[StoredEvent]:
        """Every event of every order stream, in log order (a snapshot)."""
        with self._lock:
            events = [event for event in self._log if is_order_stream(event.stream)]
        yield from events

    def log_after(self, index: int) -> list[StoredEvent]:
        """The log's events from `index` on, in commit order (every stream)."""
        with self._lock:
            return self._log[index:]

    def wait_for_log(self, index: int, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the log to hold more than `index` events."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self._log) > index, timeout)

    def stream(self, stream: str) -> list[StoredEvent]:
        """A whole stream by name (empty if missing)."""
        with self._lock:
            return list(self._streams.get(stream, []))

    def close(self) -> None:
        """Nothing to release."""

    def _append(
        self, stream: str, expected: int | None, events: Sequence[EncodedEvent]
    ) -> AppendResult:
        with self._lock:
            existing = self._streams.setdefault(stream, [])
            start = 0 if expected is None else expected + 1
            ids = [event.id for event in events]
            written = existing[start : start + len(events)]
            if events and [event.id for event in written] == ids:
                last = written[-1]
                return AppendResult(last.revision, last.commit_position or 0)
            current = len(existing) - 1 if existing else None
            if current != expected:
                actual = "no stream" if current is None else f"revision {current}"
                raise ConcurrencyConflict(stream, expected, f"the stream is at {actual}")
            # Events appended together share one commit position, as in EventStoreDB.
            now, position = datetime.now(UTC), (len(self._log) + 1) * _POSITION_STEP
            for offset, event in enumerate(events):
                stored = StoredEvent(
                    id=event.id,
                    stream=stream,
                    revision=start + offset,
                    type=event.type,
                    data=event.data,
                    metadata=event.metadata,
                    content_type="application/json",
                    commit_position=position,
                    recorded_at=now,
                )
                existing.append(stored)
                self._log.append(stored)
            self._lock.notify_all()
            return AppendResult(start + len(events) - 1, position)
