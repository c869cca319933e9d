"""The things a group dispatches: messages (events in delivery) and consumers.

A message is keyed by its ack id, the id of the record as it sits in the source
(the link's id when a link was resolved, as the client acks `RecordedEvent.ack_id`).
A consumer holds at most `max_in_flight` unacknowledged messages at a time.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from esdb_emulator.log.records import ResolvedEvent


class Tracked(Protocol):
    """A source position being tracked for checkpoints; done once its message is
    acked, skipped or parked. `tail_position` / `tail_count` carry records the
    filter rejected after it, which complete together with it."""

    @property
    def position(self) -> int | None: ...

    done: bool
    tail_position: int | None
    tail_count: int


@dataclass(eq=False, slots=True)
class ProgressEntry:
    """A bare tracked position (messages track themselves; see `Tracked`)."""

    position: int
    done: bool = False
    tail_position: int | None = None
    tail_count: int = 0


@dataclass(eq=False, slots=True)
class Message:
    """An event on its way to a consumer.

    `position` orders retries and feeds checkpoints: the original record's stream
    revision (stream groups) or commit position (`$all` groups); None for a parked
    event being replayed, which never moves the checkpoint. A message with a
    position is its own checkpoint tracking entry (`Tracked`).
    """

    resolved: ResolvedEvent
    ack_id: str
    position: int | None
    retry_count: int = 0
    consumer_id: str | None = None
    expires: float = 0.0
    unresolved_link: bool = False
    done: bool = False
    tail_position: int | None = None
    tail_count: int = 0


#: Called when a consumer is handed a message (read its retry count right away:
#: it changes if the message is retried).
Deliver = Callable[[Message], None]


@dataclass(eq=False, slots=True)
class Consumer:
    """One connected `Read` call of a group.

    `try_push` hands a message over (through `deliver`) if a slot is free and
    records it as in flight until `release`; `drop` tells the call to end because
    the group went away (updated, deleted or faulted).
    """

    consumer_id: str
    connection_name: str
    max_in_flight: int
    deliver: Deliver
    drop: Callable[[], None]
    in_flight: dict[str, Message] = field(default_factory=dict)
    total_items: int = 0
    items_at_last_measurement: int = 0

    @property
    def available_slots(self) -> int:
        """How many more messages this consumer may be handed now."""
        return max(0, self.max_in_flight - len(self.in_flight))

    def try_push(self, message: Message) -> bool:
        """Hand `message` over if a slot is free; False (and nothing done) otherwise."""
        if len(self.in_flight) >= self.max_in_flight:
            return False
        self.in_flight[message.ack_id] = message
        message.consumer_id = self.consumer_id
        self.total_items += 1
        self.deliver(message)
        return True

    def release(self, ack_id: str) -> Message | None:
        """Forget an in-flight message (acked, nacked, timed out); None if not held."""
        return self.in_flight.pop(ack_id, None)


class Deadlines:
    """When outstanding messages time out: a heap, entries checked when they come due.

    A message settled (or pushed again, with a new `expires`) before its deadline
    is skipped when the stale entry surfaces, so nothing needs removing early.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Message]] = []
        self._order = itertools.count()

    def add(self, message: Message, expires: float) -> None:
        """`message` was pushed and times out at `expires` (monotonic seconds)."""
        message.expires = expires
        heapq.heappush(self._heap, (expires, next(self._order), message))

    def due(self, now: float, is_outstanding: Callable[[Message], bool]) -> list[Message]:
        """Messages still outstanding whose deadline passed by `now`, oldest first."""
        expired: list[Message] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            expires, _, message = heapq.heappop(heap)
            if message.expires == expires and is_outstanding(message):
                expired.append(message)
        return expired
