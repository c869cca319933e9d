"""Reading an order from its stream: now, at a revision, as of a time, and its history."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from esdbclient import EventStoreDBClient, NewEvent, StreamState

from orders import (
    get_order,
    order_history,
    place_order,
    record_payment,
    ship_order,
)
from orders.errors import EventDecodeError, InvalidCommand, OrderNotFound
from orders.store import EsdbStore

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
LINES = [{"sku": "sku-1", "quantity": 1, "unit_price": 5000}]


@pytest.fixture
def shipped_order(store: EsdbStore, order_id: str) -> str:
    """An order placed at T0, paid in two parts at T0+1h and T0+2h, shipped at T0+3h."""
    place_order(order_id, "cust-9", LINES, "EUR", store=store, at=T0, correlation_id="flow-1")
    record_payment(order_id, "pay-1", 2000, "EUR", store=store, at=T0 + timedelta(hours=1))
    record_payment(order_id, "pay-2", 3000, "EUR", store=store, at=T0 + timedelta(hours=2))
    ship_order(order_id, "UPS", "1Z999", store=store, at=T0 + timedelta(hours=3))
    return order_id


def test_the_current_state(store: EsdbStore, shipped_order: str) -> None:
    view = get_order(shipped_order, store=store)
    assert (view.state.status, view.revision, view.state.facts.paid) == ("SHIPPED", 4, 5000)
    document = view.to_dict()
    assert document["carrier"] == "UPS"
    assert document["shipped_at"] == "2024-03-01T12:00:00Z"


@pytest.mark.parametrize(
    ("revision", "status", "paid"),
    [
        (0, "PENDING", 0),
        (1, "PENDING", 2000),
        (2, "PAID", 5000),
        (3, "PAID", 5000),
        (4, "SHIPPED", 5000),
    ],
)
def test_the_state_at_each_revision(
    store: EsdbStore, shipped_order: str, revision: int, status: str, paid: int
) -> None:
    view = get_order(shipped_order, at_revision=revision, store=store)
    assert (view.state.status, view.state.facts.paid, view.revision) == (status, paid, revision)


@pytest.mark.parametrize(
    ("offset", "status", "revision"),
    [
        (timedelta(0), "PENDING", 0),
        (timedelta(minutes=90), "PENDING", 1),
        (timedelta(hours=2), "PAID", 3),
        (timedelta(hours=2, minutes=59), "PAID", 3),
        (timedelta(days=1), "SHIPPED", 4),
    ],
)
def test_the_state_as_of_a_time(
    store: EsdbStore, shipped_order: str, offset: timedelta, status: str, revision: int
) -> None:
    view = get_order(shipped_order, as_of=T0 + offset, store=store)
    assert (view.state.status, view.revision) == (status, revision)
    assert view.as_of == T0 + offset


def test_before_it_was_placed_the_order_did_not_exist(store: EsdbStore, shipped_order: str) -> None:
    with pytest.raises(OrderNotFound) as caught:
        get_order(shipped_order, as_of=T0 - timedelta(seconds=1), store=store)
    assert "as of 2024-03-01T08:59:59" in str(caught.value)


def test_as_of_by_recorded_time(store: EsdbStore, shipped_order: str) -> None:
    # The events claim 2024 but were recorded just now.
    now = datetime.now(UTC)
    with pytest.raises(OrderNotFound):
        get_order(shipped_order, as_of=now - timedelta(hours=1), by="recorded", store=store)
    view = get_order(shipped_order, as_of=now + timedelta(minutes=5), by="recorded", store=store)
    assert view.revision == 4


def test_bad_points_in_time_are_refused(store: EsdbStore, shipped_order: str) -> None:
    with pytest.raises(InvalidCommand, match=r"revisions 0\.\.4"):
        get_order(shipped_order, at_revision=5, store=store)
    with pytest.raises(InvalidCommand) as naive:
        get_order(shipped_order, as_of=datetime(2024, 3, 1), store=store)  # naive on purpose
    assert naive.value.field == "as_of"
    with pytest.raises(InvalidCommand):
        get_order(shipped_order, at_revision=1, as_of=T0, store=store)


def test_an_unknown_order_is_not_found(store: EsdbStore, order_id: str) -> None:
    with pytest.raises(OrderNotFound):
        get_order(order_id, store=store)
    with pytest.raises(OrderNotFound):
        order_history(order_id, store=store)


def test_history_carries_every_event_with_its_metadata(
    store: EsdbStore, shipped_order: str
) -> None:
    history = order_history(shipped_order, store=store)
    assert [r.event.event_type for r in history] == [
        "OrderPlaced",
        "PaymentReceived",
        "PaymentReceived",
        "OrderPaid",
        "OrderShipped",
    ]
    assert [r.revision for r in history] == [0, 1, 2, 3, 4]
    positions = [r.commit_position for r in history if r.commit_position is not None]
    assert len(positions) == len(history)
    assert positions == sorted(positions)
    assert history[0].metadata.correlation_id == "flow-1"
    assert history[0].metadata.occurred_at == T0
    assert history[3].metadata.command_id == history[2].metadata.command_id  # one command
    assert all(r.recorded_at is not None for r in history)
    assert all(r.metadata.actor for r in history)


def test_payments_covering_the_total_make_an_order_paid_without_order_paid(
    store: EsdbStore, client: EventStoreDBClient, order_id: str
) -> None:
    # As the legacy service stored it: the payment was the "paid" fact.
    placed = {
        "order_id": order_id,
        "customer_id": "c",
        "lines": [{"sku": "a", "quantity": 1, "unit_price": None}],
        "currency": "USD",
        "total": 10050,
        "shipping_address": None,
        "placed_at": "2020-01-01T00:00:00Z",
    }
    paid = {
        "order_id": order_id,
        "payment_id": "t-9",
        "amount": 10050,
        "currency": "USD",
        "received_at": "2020-01-02T00:00:00Z",
    }
    client.append_to_stream(
        f"order-{order_id}",
        current_version=StreamState.NO_STREAM,
        events=[
            NewEvent(type="OrderPlaced", data=_json(placed), metadata=_json({"schema_version": 3})),
            NewEvent(
                type="PaymentReceived", data=_json(paid), metadata=_json({"schema_version": 2})
            ),
        ],
    )
    view = get_order(order_id, store=store)
    assert view.state.status == "PAID"
    assert view.to_dict()["paid_at"] == "2020-01-02T00:00:00Z"


def test_an_event_no_upcaster_knows_is_an_error_naming_it(
    store: EsdbStore, client: EventStoreDBClient, order_id: str
) -> None:
    place_order(order_id, "c", LINES, "EUR", store=store)
    client.append_to_stream(
        f"order-{order_id}",
        current_version=0,
        events=NewEvent(
            type="OrderPaid",
            data=_json({"order_id": order_id}),
            metadata=_json({"schema_version": 99}),
            id=uuid.uuid4(),
        ),
    )
    with pytest.raises(EventDecodeError) as caught:
        get_order(order_id, store=store)
    message = str(caught.value)
    assert f"order-{order_id}" in message
    assert "@1" in message
    assert "OrderPaid" in message
    assert "99" in message


def _json(value: object) -> bytes:
    return json.dumps(value).encode()
