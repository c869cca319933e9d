"""A given/when/then harness for the Order decider: no store, no clock.

given(placed_event).when(RecordPayment(...)).then(PaymentReceived(...))
given().when(ShipOrder(...)).raises(OrderNotFound)
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from orders.commands import OrderCommand
from orders.decider import Order, decide, fold
from orders.errors import DomainError
from orders.events import OrderEvent


@dataclass(frozen=True)
class _When:
    history: tuple[OrderEvent, ...]
    command: OrderCommand

    def then(self, *expected: OrderEvent) -> Order:
        """Assert the command emits exactly `expected`; returns the state after them."""
        state = fold(self.history)
        emitted = decide(self.command, state)
        assert emitted == list(expected)
        return fold(emitted, state)

    def raises(self, error: type[DomainError]) -> DomainError:
        """Assert the command is refused with `error`; returns it for closer checks."""
        with pytest.raises(error) as caught:
            decide(self.command, fold(self.history))
        assert caught.value.rule in str(caught.value)
        return caught.value


@dataclass(frozen=True)
class _Given:
    history: tuple[OrderEvent, ...]

    def when(self, command: OrderCommand) -> _When:
        return _When(self.history, command)


def given(*events: OrderEvent) -> _Given:
    """Start a spec from the events already in the order's stream."""
    return _Given(events)
