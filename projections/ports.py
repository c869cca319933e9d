"""The read side's port: what a worker needs from an event store, free of esdbclient types.

A worker holds one `EventStore` per connection (built by a `Connect` factory): it
subscribes to its projection's group and reads gaps from the same connection. Whatever
goes wrong with the connection or the subscription surfaces as `ConnectionLost`, and the
worker reconnects through the factory. `projections.esdb` implements the port over
EventStoreDB; `projections.memory` is the in-memory fake the application tests use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias
from uuid import UUID

from orders.ports import StoredEvent
from projections.batch import Delivery, NackAction

ConsumerStrategy: TypeAlias = Literal["DispatchToSingle", "RoundRobin", "Pinned"]


class ConnectionLost(Exception):
    """The event store connection or the subscription failed; reconnect and resubscribe."""


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """A projection's persistent-subscription group over the order streams.

    `Pinned` sends each stream to one consumer (best effort), so competing workers rarely
    split a stream: fewer gaps to read back and fewer duplicates. Correctness never
    depends on it; every strategy is safe (see docs/read-side.md).
    """

    consumer_strategy: ConsumerStrategy = "Pinned"
    message_timeout: float = 30.0
    max_retry_count: int = 10
    max_subscriber_count: int = 16
    checkpoint_after: float = 2.0
    min_checkpoint_count: int = 10
    max_checkpoint_count: int = 1000


@dataclass(frozen=True, slots=True)
class Window:
    """How a consumer takes events: batch size, events in flight, ack batching."""

    batch_size: int = 500
    event_buffer_size: int = 2000
    max_ack_batch_size: int = 200
    max_ack_delay: float = 0.02


class Subscription(Protocol):
    """One consumer's connection to a group: at-least-once, in no promised order."""

    @property
    def id(self) -> str:
        """The server's name for this consumer connection."""
        ...

    def take(self, timeout: float, linger: float) -> list[Delivery]:
        """Up to a batch of deliveries: waits up to `timeout` for the first, then up to
        `linger` more while the batch is not full. [] when nothing came; raises
        ConnectionLost once the deliveries received before the failure are taken."""
        ...

    def ack(self, ack_id: UUID) -> None:
        """The delivery was applied (or was a duplicate): do not send it again."""
        ...

    def nack(self, ack_id: UUID, action: NackAction) -> None:
        """The delivery failed: `retry` sends it again (retry count + 1); `park` moves it
        to the group's parked messages, from where a replay sends it again."""
        ...

    def stop(self, *, flush: bool = True) -> None:
        """Leave the group; with `flush`, send the acks still queued first (a broken
        connection cannot take them: pass False)."""
        ...


class EventStore(Protocol):
    """One connection to the event store, as a worker uses it."""

    def subscribe(
        self, group: str, settings: GroupSettings, window: Window
    ) -> tuple[Subscription, bool]:
        """Join `group` (created over the order streams, from the start, if missing) and
        return the subscription and whether the group was created now."""
        ...

    def read(self, stream: str, first: int, last: int) -> Sequence[StoredEvent]:
        """Revisions `first`..`last` of `stream` (fewer if they do not exist): gap reads."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


Connect: TypeAlias = Callable[[], EventStore]
"""Opens a new connection; the worker calls it again after ConnectionLost."""
