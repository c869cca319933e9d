"""The order cache of `OrderService` on the in-memory store: a command on an order the
service used last skips the read, and a stale entry costs a conflict and a read, never a
wrong answer. "Elsewhere" is a second service over the same store, as another process.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from orders.commands import PlaceOrder as Place
from orders.commands import RecordPayment, ShipOrder, build
from orders.errors import InvalidSettings, WrongStatus
from orders.memory import InMemoryOrderStore
from orders.ports import StoredEvent
from orders.service import OrderService
from orders.settings import Settings
from orders.state_cache import OrderCache

LINES = [{"sku": "a", "quantity": 2, "unit_price": 1500}]


class CountingStore(InMemoryOrderStore):
    """Counts the reads of order streams."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read(
        self, order_id: str, *, from_revision: int = 0, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        self.reads += 1
        return super().read(order_id, from_revision=from_revision, limit=limit)


def _place(order: str) -> Place:
    return build(Place, order_id=order, customer_id="c-1", lines=LINES, currency="EUR", at=_now())


def _pay(order: str, payment: str, amount: int = 3000) -> RecordPayment:
    return build(
        RecordPayment,
        order_id=order,
        payment_id=payment,
        amount=amount,
        currency="EUR",
        at=_now(),
    )


def _ship(order: str) -> ShipOrder:
    return build(ShipOrder, order_id=order, carrier="DHL", tracking_number="T-1", at=_now())


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


def test_commands_on_an_order_the_service_used_last_read_nothing(store: CountingStore) -> None:
    service = OrderService(store, Settings())
    order = str(uuid.uuid4())
    service.execute(_place(order))
    service.execute(_pay(order, "p-1"))
    shipped = service.execute(_ship(order))
    assert store.reads == 0
    assert shipped.revision == 3
    types = [e.type for e in store.read(order)]
    assert types == ["OrderPlaced", "PaymentReceived", "OrderPaid", "OrderShipped"]


def test_without_the_cache_every_command_but_a_fresh_place_reads(store: CountingStore) -> None:
    service = OrderService(store, Settings(state_cache_size=0))
    order = str(uuid.uuid4())
    for command in (_place(order), _pay(order, "p-1"), _ship(order)):
        service.execute(command)
    assert store.reads == 2


def test_a_stale_entry_costs_one_conflict_then_decides_on_the_new_stream(
    store: CountingStore,
) -> None:
    mine, elsewhere = OrderService(store, Settings()), OrderService(store, Settings())
    order = str(uuid.uuid4())
    mine.execute(_place(order))
    elsewhere.execute(_pay(order, "p-other", 1000))  # `mine` does not know
    result = mine.execute(_pay(order, "p-mine", 2000))
    assert result.conflicts_retried == 1
    assert result.revision == 3  # PaymentReceived p-other, p-mine, then OrderPaid
    assert [e.event.event_type for e in result.events] == ["PaymentReceived", "OrderPaid"]


def test_a_rejection_on_a_stale_entry_is_decided_again_on_a_read(store: CountingStore) -> None:
    mine, elsewhere = OrderService(store, Settings()), OrderService(store, Settings())
    order = str(uuid.uuid4())
    mine.execute(_place(order))  # cached as PENDING, unpaid: shipping would be refused
    elsewhere.execute(_pay(order, "p-1"))
    shipped = mine.execute(_ship(order))
    assert not shipped.already_applied
    assert [e.event.event_type for e in shipped.events] == ["OrderShipped"]


def test_a_true_rejection_is_still_raised(store: CountingStore) -> None:
    service = OrderService(store, Settings())
    order = str(uuid.uuid4())
    service.execute(_place(order))
    with pytest.raises(WrongStatus):
        service.execute(_ship(order))  # not paid, and the read confirms it
    assert store.reads == 1


def test_a_repeated_command_answers_from_the_stream_not_the_cache(store: CountingStore) -> None:
    service = OrderService(store, Settings())
    order = str(uuid.uuid4())
    service.execute(_place(order))
    first = service.execute(_pay(order, "p-1"))
    again = service.execute(_pay(order, "p-1"))  # nothing to do: confirmed by a read
    assert again.already_applied
    assert again.events == ()
    assert again.revision == first.revision
    assert store.reads == 1


def test_a_caller_given_command_id_always_reads(store: CountingStore) -> None:
    # Another process may have run it: its events can sit past the cached revision, where
    # the idempotent append would answer success for them without writing.
    service, elsewhere = OrderService(store, Settings()), OrderService(store, Settings())
    order = str(uuid.uuid4())
    service.execute(_place(order))
    command = _pay(order, "p-1")
    first = elsewhere.execute(command, command_id="pay-1")
    again = service.execute(command, command_id="pay-1")
    assert again.already_applied
    assert [e.event_id for e in again.events] == [e.event_id for e in first.events]
    assert all(e.commit_position is not None for e in again.events)  # read back
    assert store.reads == 2  # `elsewhere` and `service`, one each


def test_the_cache_keeps_the_most_recently_used_orders() -> None:
    store = InMemoryOrderStore()
    service = OrderService(store, Settings(state_cache_size=2))
    orders = [str(uuid.uuid4()) for _ in range(3)]
    for order in orders:
        service.execute(_place(order))
    assert len(service.cache) == 2
    assert service.cache.take(orders[0]) is None
    kept = service.cache.take(orders[2])
    assert kept is not None
    assert [e.event.event_type for e in kept.history] == ["OrderPlaced"]


def test_the_cache_size_setting_is_checked() -> None:
    assert Settings.from_env({"ORDERS_STATE_CACHE": "0"}).state_cache_size == 0
    assert Settings.from_env({}).state_cache_size == 1000
    with pytest.raises(InvalidSettings, match="ORDERS_STATE_CACHE='-1' must not be negative"):
        Settings.from_env({"ORDERS_STATE_CACHE": "-1"})
    with pytest.raises(InvalidSettings, match="ORDERS_STATE_CACHE='many' is not a whole"):
        Settings.from_env({"ORDERS_STATE_CACHE": "many"})
    with pytest.raises(ValueError, match="capacity must not be negative"):
        OrderCache(-1)
