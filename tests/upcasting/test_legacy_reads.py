"""Legacy events written raw with esdbclient, read through every path: get_order, the
command functions, history and every read model (through the projectors' batch core)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from esdbclient import EventStoreDBClient, NewEvent
from legacy_support import (
    fold_read_models,
    raw,
    rows,
    stored_events,
    ts_paid,
    ts_placed,
    write,
)

from orders import (
    cancel_order,
    get_order,
    order_history,
    place_order,
    record_payment,
    ship_order,
)
from orders.cli.read import history_document
from orders.errors import CurrencyMismatch, EventDecodeError, WrongStatus
from orders.store import EsdbStore


@pytest.fixture(scope="module")
def store(esdb_uri: str) -> Iterator[EsdbStore]:
    es = EsdbStore(esdb_uri)
    yield es
    es.close()


@pytest.fixture
def order_id() -> str:
    return str(uuid.uuid4())


# --- get_order -----------------------------------------------------------------------------


def test_a_typescript_order_paid_in_full_reads_as_paid(
    client: EventStoreDBClient, store: EsdbStore, order_id: str
) -> None:
    write(client, order_id, ts_placed(100.5, ("p-1", 2)), ts_paid("t-9", 100.5))
    placed_at, paid_at = client.get_stream(f"order-{order_id}")
    view = get_order(order_id, store=store).to_dict()
    assert {k: view[k] for k in ("status", "customer_id", "currency", "total", "paid")} == {
        "status": "PAID",
        "customer_id": "c-1",
        "currency": "USD",
        "total": 10050,
        "paid": 10050,
    }
    assert view["lines"] == [{"sku": "p-1", "quantity": 2, "unit_price": None}]
    assert view["shipping_address"] is None
    assert view["revision"] == 1
    state = get_order(order_id, store=store).state
    assert state.facts.placed_at == placed_at.recorded_at
    assert state.facts.paid_at == paid_at.recorded_at
    assert state.facts.payment_ids == frozenset({"t-9"})


def test_legacy_payments_that_cover_the_total_make_the_order_paid(
    client: EventStoreDBClient, store: EsdbStore, order_id: str
) -> None:
    # JavaScript's float sums: 10.1 + 19.9 + 0.1 + 0.2 stored as 30.300000000000004
    write(
        client,
        order_id,
        ts_placed(30.300000000000004, ("p-1", 1), ("p-2", 3)),
        ts_paid("t-1", 10.1),
        ts_paid("t-2", 20.200000000000003),
    )
    assert get_order(order_id, store=store, at_revision=0).state.status.value == "PENDING"
    assert get_order(order_id, store=store, at_revision=1).to_dict()["outstanding"] == 2020
    view = get_order(order_id, store=store).to_dict()
    assert (view["status"], view["total"], view["paid"]) == ("PAID", 3030, 3030)


def test_a_partly_paid_legacy_order_is_pending_and_accepts_the_rest(
    client: EventStoreDBClient, store: EsdbStore, order_id: str
) -> None:
    write(client, order_id, ts_placed(100.5, ("p-1", 2)), ts_paid("t-1", 50.25))
    assert get_order(order_id, store=store).to_dict()["outstanding"] == 5025
    with pytest.raises(CurrencyMismatch):  # legacy orders are in US dollars
        record_payment(order_id, "p-2", 5025, "EUR", store=store)
    result = record_payment(order_id, "p-2", 5025, "USD", store=store)
    assert [r.event.event_type for r in result.events] == ["PaymentReceived", "OrderPaid"]
    assert get_order(order_id, store=store).state.status.value == "PAID"
    # new events are written at the current version; the legacy ones are left as they were
    assert [(t, m.get("schema_version")) for t, m in stored_events(client, order_id)] == [
        ("OrderPlacedEvent", None),
        ("OrderPaidEvent", None),
        ("PaymentReceived", 2),
        ("OrderPaid", 1),
    ]


def test_a_legacy_transaction_id_is_a_known_payment_id(
    client: EventStoreDBClient, store: EsdbStore, order_id: str
) -> None:
    write(client, order_id, ts_placed(100.5, ("p-1", 2)), ts_paid("t-1", 50.25))
    result = record_payment(order_id, "t-1", 5025, "USD", store=store)
    assert result.already_applied
    assert len(stored_events(client, order_id)) == 2


def test_a_legacy_order_paid_in_full_refuses_more_payments_and_ships(
    client: EventStoreDBClient, store: EsdbStore, order_id: str
) -> None:
    write(client, order_id, ts_placed(12, ("p-1", 1)), ts_paid("t-1", 12))
    with pytest.raises(WrongStatus, match="PAID"):
        record_payment(order_id, "p-2", 100, "USD", store=store)
    ship_order(order_id, "DHL", "JJD000390007", store=store)
    assert get_order(order_id, store=store).state.status.value == "SHIPPED"


def test_cancelling_a_paid_legacy_order_refunds_the_legacy_payments(
    client: EventStoreDBClient, store: EsdbStore, order_id: str
) -> None:
    write(client, order_id, ts_placed(100.5, ("p-1", 2)), ts_paid("t-9", 100.5))
    result = cancel_order(order_id, "customer asked", store=store)
    refund = result.events[-1].event
    assert refund.event_type == "RefundIssued"
    assert refund.model_dump(include={"amount", "currency"}) == {
        "amount": 10050,
        "currency": "USD",
    }
    view = get_order(order_id, store=store).to_dict()
    assert (view["status"], view["refunded"]) == ("CANCELLED", 10050)
    assert [t for t, _ in stored_events(client, order_id)] == [
        "OrderPlacedEvent",
        "OrderPaidEvent",
        "OrderCancelled",
        "RefundIssued",
    ]


def test_cancelling_an_unpaid_order_of_our_earlier_version_refunds_nothing(
    client: EventStoreDBClient, store: EsdbStore, order_id: str
) -> None:
    v2 = {
        "order_id": order_id,
        "customer_id": "c-2",
        "lines": [{"sku": "s-1", "quantity": 1, "unit_price": 2599}],
        "currency": "USD",
        "total": 2599,
    }
    write(client, order_id, raw("OrderPlaced", v2, {"schema_version": 2}))
    result = cancel_order(order_id, "out of stock", store=store)
    assert [r.event.event_type for r in result.events] == ["OrderCancelled"]


def test_payment_received_v1_of_our_earlier_version_pays_the_order(
    client: EventStoreDBClient, store: EsdbStore, order_id: str
) -> None:
    v2 = {
        "order_id": order_id,
        "customer_id": "c-2",
        "lines": [{"sku": "s-1", "quantity": 2, "unit_price": 1000}],
        "currency": "USD",
        "total": 2000,
    }
    v1 = {"order_id": order_id, "transaction_id": "tx-1", "amount_cents": 2000}
    write(
        client,
        order_id,
        raw("OrderPlaced", v2, {"schema_version": 2, "$correlationId": "k"}),
        raw("PaymentReceived", v1),  # no schema_version: version 1
    )
    view = get_order(order_id, store=store).to_dict()
    assert (view["status"], view["paid"], view["lines"][0]["unit_price"]) == ("PAID", 2000, 1000)


# --- history ----------------------------------------------------------------------------


def test_history_shows_current_events_and_what_was_stored(
    client: EventStoreDBClient, store: EsdbStore, order_id: str
) -> None:
    metadata = {"correlationId": "abc", "userId": "checkout-web"}  # TypeScript-style
    write(
        client,
        order_id,
        ts_placed(9.99, ("p-1", 1)),
        raw("OrderPaidEvent", {"transactionId": "t-1", "amount": 9.99}, metadata),
    )
    documents = [history_document(r) for r in order_history(order_id, store=store)]
    assert [(d["type"], d["stored_type"], d["schema_version"]) for d in documents] == [
        ("OrderPlaced", "OrderPlacedEvent", 1),
        ("PaymentReceived", "OrderPaidEvent", 1),
    ]
    assert documents[1]["data"]["amount"] == 999
    assert documents[1]["metadata"]["correlation_id"] is None  # not EventStoreDB's name
    # no occurred_at in legacy metadata: the event happened when it was recorded
    assert [d["occurred_at"] for d in documents] == [d["recorded_at"] for d in documents]
    assert documents[0]["data"]["placed_at"] == documents[0]["recorded_at"]


# --- failures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "version", "detail"),
    [
        (raw("OrderRefundedEvent", {"amount": 1.5}), 1, "no upcaster"),
        (raw("OrderPaidEvent", {"transactionId": "t", "amount": "1.50"}), 1, "must be a number"),
        (raw("OrderPlaced", {"order_id": "x"}, {"schema_version": 9}), 9, "no upcaster"),
    ],
)
def test_an_event_that_cannot_be_read_fails_reads_and_commands_naming_it(
    client: EventStoreDBClient,
    store: EsdbStore,
    order_id: str,
    bad: NewEvent,
    version: int,
    detail: str,
) -> None:
    write(client, order_id, ts_placed(10, ("p-1", 1)), bad)
    stream = f"order-{order_id}"
    name = f"{stream}@1"
    for read in (
        lambda: get_order(order_id, store=store),
        lambda: order_history(order_id, store=store),
        lambda: record_payment(order_id, "p-1", 1000, "USD", store=store),
        lambda: cancel_order(order_id, "nope", store=store),
    ):
        with pytest.raises(EventDecodeError) as caught:
            read()
        message = str(caught.value)
        assert name in message
        assert f"{bad.type} v{version}" in message
        assert detail in message
        assert (caught.value.stream, caught.value.revision) == (stream, 1)
    assert len(stored_events(client, order_id)) == 2  # reading never writes


# --- read models ------------------------------------------------------------------------


def test_every_read_model_shows_legacy_and_current_orders_side_by_side(
    client: EventStoreDBClient, store: EsdbStore
) -> None:
    legacy, partial, current, broken = (str(uuid.uuid4()) for _ in range(4))
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    write(client, legacy, ts_placed(100.5, ("p-1", 2), customer=customer), ts_paid("t", 100.5))
    write(client, partial, ts_placed(20, ("p-2", 1), customer=customer), ts_paid("u", 5))
    line = {"sku": "s", "quantity": 1, "unit_price": 700}
    place_order(current, customer, [line], "USD", store=store)
    record_payment(current, "v", 700, "USD", store=store)
    write(client, broken, ts_placed(1, ("p", 1)), raw("OrderPaidEvent", {"amount": 1}))
    models, outcomes = fold_read_models(client, [legacy, partial, current, broken])

    summary = rows(
        models["order_summary"],
        "SELECT order_id, status, currency, total, paid, line_count, city FROM order_summary"
        " WHERE customer_id = ? ORDER BY total",
        customer,
    )
    assert [(r["order_id"], r["status"], r["total"], r["paid"]) for r in summary] == [
        (current, "PAID", 700, 700),
        (partial, "PENDING", 2000, 500),
        (legacy, "PAID", 10050, 10050),
    ]
    assert {r["currency"] for r in summary} == {"USD"}
    assert [r["city"] for r in summary] == [None, None, None]

    stats = rows(
        models["customer_stats"], "SELECT * FROM customer_stats WHERE customer_id = ?", customer
    )
    assert [(s["orders_placed"], s["lifetime_value"], s["currency"]) for s in stats] == [
        (3, 700 + 500 + 10050, "USD")
    ]
    timeline = rows(
        models["order_timeline"],
        "SELECT event_type, stored_type, stored_version FROM order_timeline WHERE order_id = ?"
        " ORDER BY revision",
        legacy,
    )
    assert [tuple(r.values()) for r in timeline] == [
        ("OrderPlaced", "OrderPlacedEvent", 1),
        ("PaymentReceived", "OrderPaidEvent", 1),
    ]
    sales = rows(models["daily_sales"], "SELECT SUM(gross_paid) AS paid FROM daily_sales")
    assert sales[0]["paid"] == 10050 + 500 + 700 + 0  # the broken order's payment is parked

    for name, outcome in outcomes.items():
        assert [f.action for f in outcome.failures] == ["park"], name
        error = outcome.failures[0].error
        assert f"order-{broken}@1" in error
        assert "OrderPaidEvent v1" in error
        assert "missing field 'transactionId'" in error
