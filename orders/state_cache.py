"""The last known stream of recently used orders, so a command can skip reading it.

A command normally reads its order's stream before deciding. With the order cached (what
this process last read or appended), it decides on the cached state and appends at the
cached revision instead: the expected-revision check makes a stale entry harmless, since
an append after anyone else's write is refused as a conflict, and the retry reads the
stream as usual. An outcome that no append confirms (a rejection, "already applied",
nothing to do) is never answered from the cache: the service reads the stream and decides
again first (`orders.service`).

An entry is taken out while a command runs on its order and put back when the command
succeeds, so a failed or interrupted command (an append whose outcome is unknown) leaves
nothing behind. Bounded: the least recently used orders go first. Thread-safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from orders.codec import RecordedOrderEvent
from orders.decider import Order


@dataclass(frozen=True, slots=True)
class CachedOrder:
    """An order's stream as last known: its events and the state they fold to."""

    history: tuple[RecordedOrderEvent, ...]
    state: Order


class OrderCache:
    """At most `capacity` orders (0 keeps none)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must not be negative, got {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[str, CachedOrder] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, order_id: str) -> CachedOrder | None:
        """Remove and return the order's entry, if any."""
        with self._lock:
            return self._entries.pop(order_id, None)

    def put(self, order_id: str, history: Sequence[RecordedOrderEvent], state: Order) -> None:
        """Remember the order's stream as `history`, folding to `state`."""
        if self.capacity == 0 or not history:
            return
        entry = CachedOrder(tuple(history), state)
        with self._lock:
            self._entries[order_id] = entry
            self._entries.move_to_end(order_id)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
