"""A catch-up projector for the scenario tests: a catch-up subscription to the order
events in `$all`, applied through the workers' `BatchApplier` into a read model, with its
checkpoint (the highest commit position applied) in the same transaction.

The product's workers use persistent subscriptions; this one exists to show what a
catch-up reader sees of the log under load, in order: it records every event it receives,
so a test can compare the sequence with `$all` read afterwards (nothing skipped, nothing
twice). A catch-up reader applies in log order, so any gap it has to read back from a
stream (`gap_events_read`) means `$all` skipped an event before delivering a later one.
"""

from __future__ import annotations

import queue
import threading
import uuid
from pathlib import Path

from esdbclient import EventStoreDBClient, RecordedEvent

from orders import codec
from orders.store import stored_event
from projections import database, tracking
from projections.batch import BatchApplier, Delivery
from projections.esdb import ORDER_STREAMS_REGEX, OrderLog
from projections.read_models import registry


class CatchUpProjector:
    """Runs in two threads of this process (receive, apply) until `stop()`."""

    def __init__(self, uri: str, name: str, db: Path, *, batch_size: int = 100) -> None:
        self.uri, self.db, self.batch_size = uri, db, batch_size
        self.projection = registry.get(name)
        self.received: list[tuple[int, uuid.UUID]] = []
        """(commit position, event id) of every event received, in order."""
        self.error: BaseException | None = None
        self._events: queue.Queue[RecordedEvent | None] = queue.Queue()
        self._client = EventStoreDBClient(uri)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> CatchUpProjector:
        conn = database.open_new(self.db, self.projection)
        checkpoint = tracking.read_meta(conn).get("max_commit_position")
        conn.close()
        subscription = self._client.subscribe_to_all(
            commit_position=int(checkpoint) if isinstance(checkpoint, int) else None,
            filter_include=[ORDER_STREAMS_REGEX],
            filter_by_stream_name=True,
        )
        self._subscription = subscription
        self._threads = [
            threading.Thread(target=self._receive, daemon=True),
            threading.Thread(target=self._apply, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._subscription.stop()
        self._events.put(None)
        for thread in self._threads:
            thread.join(20)
        self._client.close()
        assert not any(t.is_alive() for t in self._threads)

    def _receive(self) -> None:
        try:
            for event in self._subscription:
                self.received.append((event.commit_position or 0, event.id))
                self._events.put(event)
        except BaseException as e:  # noqa: BLE001  reported by the test
            if not self._stopping.is_set():
                self.error = e
        self._events.put(None)

    def _apply(self) -> None:
        conn = database.connect(self.db)
        applier = BatchApplier(self.projection, codec.decode, OrderLog(self._client))
        try:
            while True:
                first = self._events.get()
                if first is None:
                    return
                batch = [first]
                while len(batch) < self.batch_size:
                    try:
                        more = self._events.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._events.put(None)
                        break
                    batch.append(more)
                applier.apply(conn, [Delivery(stored_event(e), uuid.uuid4()) for e in batch])
        except BaseException as e:  # noqa: BLE001  reported by the test
            self.error = e
        finally:
            conn.close()
