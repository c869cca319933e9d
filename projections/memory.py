"""An in-memory `EventStore` for workers: the read side's fake, over an `InMemoryOrderStore`.

`MemoryEventStore` plays the server: it keeps each group's state across connections, and
`connect` is the worker's `Connect` factory. Groups follow the order streams of the log
from the start and deliver at least once, as the contract tests (`tests/contract/`) check
against the real server: an acked event is not sent again; a `retry` nack sends it again
with its retry count + 1; a `park` nack parks it until `replay_parked`; what was in flight
to a consumer that leaves is sent again (retry count + 1). Faults on demand:
`drop_connections()` fails every open connection (the next `take` raises ConnectionLost),
`redeliver_in_flight()` sends everything in flight again while it stays in flight (a
consumer that timed out), for duplicate-delivery tests. Not modelled: message timeouts,
checkpoints, consumer strategies (every consumer takes from one queue).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from orders.memory import InMemoryOrderStore
from orders.ports import StoredEvent
from orders.streams import is_order_stream
from projections.batch import Delivery, NackAction
from projections.ports import ConnectionLost, GroupSettings, Window


@dataclass
class _Group:
    settings: GroupSettings
    cursor: int = 0  # index of the next log event to look at
    ready: deque[Delivery] = field(default_factory=deque)  # retries and replays, first
    in_flight: dict[UUID, tuple[Delivery, _Subscription]] = field(default_factory=dict)
    parked: list[Delivery] = field(default_factory=list)


class MemoryEventStore:
    """The server side of the fake: groups over `source`'s order streams."""

    def __init__(self, source: InMemoryOrderStore) -> None:
        self.source = source
        self._lock = threading.Condition()
        self._groups: dict[str, _Group] = {}
        self._open: set[_Connection] = set()

    def connect(self) -> _Connection:
        """A new connection (the worker's `Connect`)."""
        connection = _Connection(self)
        with self._lock:
            self._open.add(connection)
        return connection

    def drop_connections(self) -> None:
        """Fail every open connection, as a dropped network link does."""
        with self._lock:
            dropped, self._open = self._open, set()
            for connection in dropped:
                connection.broken = True
            self._lock.notify_all()

    def redeliver_in_flight(self, group: str) -> int:
        """Send every in-flight event of `group` again (still in flight); how many."""
        with self._lock:
            state = self._groups[group]
            again = [delivery for delivery, _ in state.in_flight.values()]
            state.ready.extend(again)
            self._lock.notify_all()
            return len(again)

    def replay_parked(self, group: str) -> None:
        """Send the parked events of `group` again, ahead of new events."""
        with self._lock:
            state = self._groups[group]
            state.ready.extend(state.parked)
            state.parked.clear()
            self._lock.notify_all()

    def parked(self, group: str) -> list[StoredEvent]:
        """The events `group` holds parked."""
        with self._lock:
            return [delivery.stored for delivery in self._groups[group].parked]

    def in_flight(self, group: str) -> int:
        """Deliveries of `group` not yet acked or nacked."""
        with self._lock:
            return len(self._groups[group].in_flight)

    # -- used by connections and subscriptions ------------------------------------------

    def _join(self, group: str, settings: GroupSettings) -> bool:
        with self._lock:
            if group in self._groups:
                return False
            self._groups[group] = _Group(settings)
            return True

    def _take(
        self, subscription: _Subscription, limit: int, timeout: float, linger: float
    ) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        taken: list[Delivery] = []
        with self._lock:
            state = self._groups[subscription.group]
            while True:
                if subscription.connection.broken:
                    if taken:
                        return taken
                    raise ConnectionLost("the connection to the in-memory store was dropped")
                taken += self._next(state, subscription, limit - len(taken))
                if len(taken) >= limit:
                    return taken
                if taken and deadline > time.monotonic() + linger:
                    deadline = time.monotonic() + linger
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return taken
                self._lock.wait(min(remaining, 0.05))

    def _next(self, state: _Group, subscription: _Subscription, limit: int) -> list[Delivery]:
        out: list[Delivery] = []
        while state.ready and len(out) < limit:
            out.append(state.ready.popleft())
        if len(out) < limit:
            fresh = self.source.log_after(state.cursor)[: limit - len(out)]
            state.cursor += len(fresh)
            out += [Delivery(e, e.id, 0) for e in fresh if is_order_stream(e.stream)]
        for delivery in out:
            state.in_flight[delivery.ack_id] = (delivery, subscription)
        return out

    def _settle(self, group: str, ack_id: UUID, action: NackAction | None) -> None:
        with self._lock:
            state = self._groups[group]
            found = state.in_flight.pop(ack_id, None)
            if found is None or action is None:
                return
            delivery = found[0]
            again = Delivery(delivery.stored, delivery.ack_id, delivery.retry_count + 1)
            (state.ready if action == "retry" else state.parked).append(again)
            self._lock.notify_all()

    def _leave(self, subscription: _Subscription) -> None:
        with self._lock:
            state = self._groups[subscription.group]
            for ack_id, (delivery, holder) in list(state.in_flight.items()):
                if holder is subscription:
                    del state.in_flight[ack_id]
                    state.ready.append(
                        Delivery(delivery.stored, delivery.ack_id, delivery.retry_count + 1)
                    )
            self._lock.notify_all()

    def _close(self, connection: _Connection) -> None:
        with self._lock:
            self._open.discard(connection)


class _Connection:
    """One connection: the `EventStore` port over the fake."""

    def __init__(self, server: MemoryEventStore) -> None:
        self.server = server
        self.broken = False
        self._subscriptions: list[_Subscription] = []

    def subscribe(
        self, group: str, settings: GroupSettings, window: Window
    ) -> tuple[_Subscription, bool]:
        if self.broken:
            raise ConnectionLost("the connection to the in-memory store was dropped")
        created = self.server._join(group, settings)
        subscription = _Subscription(self, group, window.batch_size)
        self._subscriptions.append(subscription)
        return subscription, created

    def read(self, stream: str, first: int, last: int) -> Sequence[StoredEvent]:
        if self.broken:
            raise ConnectionLost("the connection to the in-memory store was dropped")
        return self.server.source.stream(stream)[first : last + 1]

    def close(self) -> None:
        for subscription in self._subscriptions:
            subscription.stop(flush=False)
        self.server._close(self)


_SUBSCRIPTION_IDS = itertools.count(1)


class _Subscription:
    def __init__(self, connection: _Connection, group: str, batch_size: int) -> None:
        self.connection, self.group, self.batch_size = connection, group, batch_size
        self._id = f"memory-{next(_SUBSCRIPTION_IDS)}"
        self._stopped = False

    @property
    def id(self) -> str:
        return self._id

    def take(self, timeout: float, linger: float) -> list[Delivery]:
        return self.connection.server._take(self, self.batch_size, timeout, linger)

    def ack(self, ack_id: UUID) -> None:
        self._check()
        self.connection.server._settle(self.group, ack_id, None)

    def nack(self, ack_id: UUID, action: NackAction) -> None:
        self._check()
        self.connection.server._settle(self.group, ack_id, action)

    def stop(self, *, flush: bool = True) -> None:
        if not self._stopped:
            self._stopped = True
            self.connection.server._leave(self)

    def _check(self) -> None:
        if self.connection.broken:
            raise ConnectionLost("the connection to the in-memory store was dropped")


class MemoryOrderLog:
    """The in-memory log as the oracle reads it (`projections.ops.verify.EventLog`)."""

    def __init__(self, source: InMemoryOrderStore) -> None:
        self.source = source

    def pages(self) -> Iterator[list[StoredEvent]]:
        events = list(self.source.scan())
        if events:
            yield events

    def stream(self, stream: str) -> list[StoredEvent]:
        return self.source.stream(stream)

    def read(self, stream: str, first: int, last: int) -> Sequence[StoredEvent]:
        return self.source.stream(stream)[first : last + 1]
