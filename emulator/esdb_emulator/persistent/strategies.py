"""Consumer strategies: which consumer of a group gets the next message.

As in EventStoreDB 24.10:
- RoundRobin rotates through the consumers, each push going to the next one with
  a free slot;
- DispatchToSingle fills the first consumer up to its in-flight limit before it
  moves on to the next;
- Pinned hashes the original stream id (the target stream of an unresolved link)
  into one of 1024 buckets, assigns each bucket to the connected consumer with the
  fewest buckets, rebalances buckets when a consumer joins, and frees the buckets
  of one that leaves;
- PinnedByCorrelation pins by the `$correlationId` of the event's metadata,
  falling back to the stream id.
The bucket hash is CRC-32 (the server uses its own xxHash variant): which bucket a
stream lands in differs, the pinning behaviour does not.
"""

from __future__ import annotations

import enum
import json
import math
import zlib
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass

from esdb_emulator.persistent.model import Consumer, Message

BUCKET_COUNT = 1024
_LINK_TO = "$>"


class PushResult(enum.Enum):
    """Outcome of offering one message to the consumers."""

    SENT = "sent"
    SKIPPED = "skipped"  # not now (its consumer is busy); try later messages
    NO_CAPACITY = "no_capacity"  # nobody can take anything; stop pushing


class ConsumerStrategy(ABC):
    """Chooses consumers for messages; told of joins, leaves and confirmations."""

    name: str

    @abstractmethod
    def add(self, consumer: Consumer) -> None:
        """A consumer joined."""

    @abstractmethod
    def remove(self, consumer: Consumer) -> None:
        """A consumer left (its in-flight messages are the caller's business)."""

    @abstractmethod
    def push(self, message: Message) -> PushResult:
        """Hand `message` to a consumer if the strategy allows it now."""

    def confirmed(self, consumer: Consumer, message: Message) -> None:
        """`message` left `consumer`'s in-flight set (ack, nack or timeout).

        Only the pinned strategies count in-flight messages per bucket.
        """
        del consumer, message


class RoundRobin(ConsumerStrategy):
    """Each push goes to the next consumer in turn that has a free slot."""

    name = "RoundRobin"

    def __init__(self) -> None:
        self._consumers: deque[Consumer] = deque()

    def add(self, consumer: Consumer) -> None:
        self._consumers.append(consumer)

    def remove(self, consumer: Consumer) -> None:
        self._consumers.remove(consumer)

    def push(self, message: Message) -> PushResult:
        for _ in range(len(self._consumers)):
            consumer = self._consumers.popleft()
            self._consumers.append(consumer)
            if consumer.try_push(message):
                return PushResult.SENT
        return PushResult.NO_CAPACITY


class DispatchToSingle(RoundRobin):
    """Pushes go to the first consumer until it is full, then to the next."""

    name = "DispatchToSingle"

    def push(self, message: Message) -> PushResult:
        for _ in range(len(self._consumers)):
            if self._consumers[0].try_push(message):
                return PushResult.SENT
            self._consumers.rotate(-1)
        return PushResult.NO_CAPACITY


class _Bucket(enum.Enum):
    UNASSIGNED = 0
    ASSIGNED = 1
    DISCONNECTED = 2


@dataclass(eq=False, slots=True)
class _Node:
    consumer: Consumer
    connected: bool = True
    assignments: int = 0


@dataclass(eq=False, slots=True)
class _Assignment:
    state: _Bucket = _Bucket.UNASSIGNED
    node: _Node | None = None
    in_flight: int = 0


class Pinned(ConsumerStrategy):
    """Messages of one stream go to one consumer while it stays connected."""

    name = "Pinned"

    def __init__(self) -> None:
        self._buckets = [_Assignment() for _ in range(BUCKET_COUNT)]
        self._nodes: list[_Node] = []
        self._assigned = 0

    def pin_key(self, message: Message) -> str:
        """The string hashed into a bucket: the original stream id."""
        return source_stream_id(message)

    def add(self, consumer: Consumer) -> None:
        node = _Node(consumer)
        self._nodes.append(node)
        connected = sum(1 for n in self._nodes if n.connected)
        fair_share = math.ceil(self._assigned / connected)
        moves: list[_Assignment] = []
        for other in self._nodes:
            if other is node or not other.connected or other.assignments <= fair_share:
                continue
            owned = [b for b in self._buckets if b.node is other and b.state is _Bucket.ASSIGNED]
            owned.sort(key=lambda b: b.in_flight)
            moves += owned[: other.assignments - fair_share]
        for bucket in moves:
            self._assign(bucket, node)
        self._nodes = [n for n in self._nodes if n.connected or n.assignments > 0]

    def remove(self, consumer: Consumer) -> None:
        node = self._node_of(consumer)
        if node is None:
            return
        node.connected = False
        self._assigned -= node.assignments
        for bucket in self._buckets:
            if bucket.node is node:
                bucket.state = _Bucket.DISCONNECTED
                bucket.in_flight = 0

    def push(self, message: Message) -> PushResult:
        if self._available_capacity() == 0:
            return PushResult.NO_CAPACITY
        bucket = self._buckets[self._bucket_index(message)]
        if bucket.state is not _Bucket.ASSIGNED:
            self._assign(bucket, self._least_assigned())
        assert bucket.node is not None
        if not bucket.node.consumer.try_push(message):
            return PushResult.SKIPPED
        bucket.in_flight += 1
        return PushResult.SENT

    def confirmed(self, consumer: Consumer, message: Message) -> None:
        bucket = self._buckets[self._bucket_index(message)]
        if bucket.node is not None and bucket.node.consumer is consumer:
            bucket.in_flight -= 1

    def _bucket_index(self, message: Message) -> int:
        return zlib.crc32(self.pin_key(message).encode("utf-8")) % BUCKET_COUNT

    def _available_capacity(self) -> int:
        return sum(n.consumer.available_slots for n in self._nodes if n.connected)

    def _least_assigned(self) -> _Node:
        connected = [n for n in self._nodes if n.connected]
        return min(connected, key=lambda n: n.assignments)

    def _node_of(self, consumer: Consumer) -> _Node | None:
        return next((n for n in self._nodes if n.consumer is consumer and n.connected), None)

    def _assign(self, bucket: _Assignment, node: _Node) -> None:
        if bucket.state is not _Bucket.ASSIGNED:
            self._assigned += 1
        if bucket.state is not _Bucket.UNASSIGNED and bucket.node is not None:
            bucket.node.assignments -= 1
        bucket.state = _Bucket.ASSIGNED
        bucket.node = node
        node.assignments += 1


class PinnedByCorrelation(Pinned):
    """Pinned by the `$correlationId` metadata property, else by stream id."""

    name = "PinnedByCorrelation"

    def pin_key(self, message: Message) -> str:
        return correlation_id(message) or source_stream_id(message)


STRATEGY_NAMES = (
    DispatchToSingle.name,
    RoundRobin.name,
    Pinned.name,
    PinnedByCorrelation.name,
)

_FACTORIES: dict[str, type[ConsumerStrategy]] = {
    cls.name: cls for cls in (DispatchToSingle, RoundRobin, Pinned, PinnedByCorrelation)
}


def make_strategy(name: str) -> ConsumerStrategy:
    """A fresh strategy named `name`; raises KeyError for an unknown name."""
    return _FACTORIES[name]()


def source_stream_id(message: Message) -> str:
    """The stream an event came from; for an unresolved link, the stream it points to."""
    record = message.resolved.event
    if record.type != _LINK_TO:
        return record.stream
    target = record.data.decode("utf-8", errors="replace")
    _, separator, stream = target.partition("@")
    return stream if separator else target


def correlation_id(message: Message) -> str | None:
    """The string `$correlationId` of the event's JSON metadata, if it has one."""
    try:
        metadata = json.loads(message.resolved.event.metadata or b"null")
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(metadata, dict):
        value = metadata.get("$correlationId")
        if isinstance(value, str):
            return value
    return None
