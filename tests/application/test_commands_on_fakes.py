"""The command functions' application logic (load, decide, append at the exact revision,
idempotency, conflict retries) on the in-memory OrderStore: no server process. The same
behaviour against a real server is in tests/integration/."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest

from orders import api, get_order
from orders.errors import CommandIdReused, PaymentExceedsOutstanding
from orders.memory import InMemoryOrderStore
from orders.ports import AppendResult, EncodedEvent

LINES = [{"sku": "a", "quantity": 2, "unit_price": 1500}]


@pytest.fixture
def store() -> InMemoryOrderStore:
    return InMemoryOrderStore()


def test_an_order_lives_through_its_commands(store: InMemoryOrderStore) -> None:
    order = str(uuid.uuid4())
    api.place_order(order, "c-1", LINES, "EUR", store=store)
    api.record_payment(order, "p-1", 3000, "EUR", store=store)
    shipped = api.ship_order(order, "DHL", "T-1", store=store)
    assert shipped.revision == 3  # paid in full: PaymentReceived, then OrderPaid
    types = [e.type for e in store.read(order)]
    assert types == ["OrderPlaced", "PaymentReceived", "OrderPaid", "OrderShipped"]
    assert get_order(order, store=store).to_dict()["status"] == "SHIPPED"


def test_a_repeated_command_id_is_applied_once(store: InMemoryOrderStore) -> None:
    order = str(uuid.uuid4())
    api.place_order(order, "c-1", LINES, "EUR", store=store)
    first = api.record_payment(order, "p-1", 1000, "EUR", store=store, command_id="cmd-1")
    again = api.record_payment(order, "p-1", 1000, "EUR", store=store, command_id="cmd-1")
    assert (first.already_applied, again.already_applied) == (False, True)
    assert len(store.read(order)) == 2


def test_a_command_id_reused_for_another_command_writes_nothing(
    store: InMemoryOrderStore,
) -> None:
    order = str(uuid.uuid4())
    api.place_order(order, "c-1", LINES, "EUR", store=store, command_id="cmd-1")
    with pytest.raises(CommandIdReused):
        api.record_payment(order, "p-1", 1000, "EUR", store=store, command_id="cmd-1")
    assert len(store.read(order)) == 1


class RacedStore(InMemoryOrderStore):
    """Just before the first append at a revision, another writer pays 1,000 of the order."""

    def __init__(self) -> None:
        super().__init__()
        self.raced = False

    def append(
        self, order_id: str, expected_revision: int | None, events: Sequence[EncodedEvent]
    ) -> AppendResult:
        if expected_revision is not None and not self.raced:
            self.raced = True
            api.record_payment(order_id, "p-other", 1000, "EUR", store=self)
        return super().append(order_id, expected_revision, events)


def test_a_conflict_reloads_and_decides_again() -> None:
    raced = RacedStore()
    order = str(uuid.uuid4())
    api.place_order(order, "c-1", LINES, "EUR", store=raced)
    result = api.record_payment(order, "p-mine", 1500, "EUR", store=raced)
    assert (result.revision, result.conflicts_retried) == (2, 1)
    payments = [e for e in raced.read(order) if e.type == "PaymentReceived"]
    assert [b"p-other" in e.data for e in payments] == [True, False]


def test_after_a_conflict_the_rules_see_the_other_write() -> None:
    raced = RacedStore()
    order = str(uuid.uuid4())
    api.place_order(order, "c-1", LINES, "EUR", store=raced)
    with pytest.raises(PaymentExceedsOutstanding):
        api.record_payment(order, "p-mine", 2500, "EUR", store=raced)  # 2,000 outstanding now
    assert [e.type for e in raced.read(order)] == ["OrderPlaced", "PaymentReceived"]
