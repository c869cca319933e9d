"""Command functions through the real esdbclient against a real server process."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from esdbclient import EventStoreDBClient
from esdbclient.exceptions import NotFound

from esdb_emulator.node.launcher import EmulatorProcess
from orders import (
    cancel_order,
    change_shipping_address,
    confirm_delivery,
    get_order,
    place_order,
    record_payment,
    ship_order,
)
from orders.codec import CommandContext, encode, event_id
from orders.errors import (
    ConcurrencyConflict,
    CurrencyMismatch,
    InvalidCommand,
    OrderAlreadyExists,
    OrderNotFound,
    PaymentExceedsOutstanding,
    StoreUnavailable,
    WrongStatus,
)
from orders.events import OrderPlaced
from orders.store import EsdbStore

LINES = [
    {"sku": "sku-1", "quantity": 2, "unit_price": 1500},
    {"sku": "sku-2", "quantity": 1, "unit_price": 99},
]
TOTAL = 3099
ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


def stored(client: EventStoreDBClient, order_id: str) -> list[Any]:
    """The raw recorded events of the order's stream ([] if it does not exist)."""
    try:
        return list(client.get_stream(f"order-{order_id}"))
    except NotFound:
        return []


def placed_event(order_id: str) -> tuple[CommandContext, OrderPlaced]:
    """An OrderPlaced for `order_id` and the context of the command that decided it,
    to append through the store directly."""
    context = CommandContext(uuid.uuid4(), "c", "c", "tests", datetime.now(UTC))
    event = OrderPlaced.model_validate(
        {
            "order_id": order_id,
            "customer_id": "c",
            "lines": LINES,
            "currency": "EUR",
            "total": TOTAL,
            "shipping_address": None,
            "placed_at": context.occurred_at,
        }
    )
    return context, event


def place(order_id: str, store: EsdbStore, **options: Any) -> Any:
    return place_order(order_id, "cust-1", LINES, "EUR", ADDRESS, store=store, **options)


class TestPlaceOrder:
    def test_placing_appends_order_placed_with_full_metadata(
        self, store: EsdbStore, client: EventStoreDBClient, order_id: str
    ) -> None:
        command_id = uuid.uuid4()
        result = place(
            order_id, store, command_id=command_id, correlation_id="corr-1", actor="tests"
        )

        assert (result.order_id, result.revision, result.already_applied) == (order_id, 0, False)
        assert isinstance(result.commit_position, int)
        assert [r.event.event_type for r in result.events] == ["OrderPlaced"]
        [recorded] = stored(client, order_id)
        assert recorded.type == "OrderPlaced"
        assert recorded.content_type == "application/json"
        assert recorded.id == event_id(command_id, 0) == uuid.uuid5(command_id, "0")
        assert recorded.commit_position == result.commit_position
        data = json.loads(recorded.data)
        assert data["total"] == TOTAL
        assert data["lines"][0] == {"sku": "sku-1", "quantity": 2, "unit_price": 1500}
        assert data["shipping_address"]["country"] == "DE"
        metadata = json.loads(recorded.metadata)
        assert metadata["schema_version"] == 3
        assert metadata["$correlationId"] == "corr-1"
        assert metadata["$causationId"] == str(command_id)
        assert metadata["command_id"] == str(command_id)
        assert metadata["actor"] == "tests"
        assert datetime.fromisoformat(metadata["occurred_at"]).tzinfo is not None

    def test_placing_an_existing_order_is_refused_and_writes_nothing(
        self, store: EsdbStore, client: EventStoreDBClient, order_id: str
    ) -> None:
        place(order_id, store)
        with pytest.raises(OrderAlreadyExists) as caught:
            place(order_id, store)
        assert caught.value.rule == "order-must-not-exist"
        assert caught.value.status == "PENDING"
        assert len(stored(client, order_id)) == 1

    @pytest.mark.parametrize(
        ("lines", "currency", "field"),
        [
            ([], "EUR", "lines"),
            ([{"sku": "a", "quantity": 0, "unit_price": 1}], "EUR", "lines.0.quantity"),
            ([{"sku": "a", "quantity": 1, "unit_price": -1}], "EUR", "lines.0.unit_price"),
            ([{"sku": "a", "quantity": 1, "unit_price": 1}], "EURO", "currency"),
        ],
    )
    def test_invalid_orders_write_nothing(
        self,
        store: EsdbStore,
        client: EventStoreDBClient,
        order_id: str,
        lines: list[dict[str, Any]],
        currency: str,
        field: str,
    ) -> None:
        with pytest.raises(InvalidCommand) as caught:
            place_order(order_id, "c", lines, currency, store=store)
        assert caught.value.field == field
        assert stored(client, order_id) == []

    def test_the_default_store_comes_from_esdb_uri(
        self, default_store_on: str, client: EventStoreDBClient, order_id: str
    ) -> None:
        result = place_order(order_id, "cust-1", LINES, "EUR")
        assert result.revision == 0
        assert len(stored(client, order_id)) == 1


class TestLifecycle:
    def test_an_order_goes_from_placed_to_delivered(self, store: EsdbStore, order_id: str) -> None:
        place(order_id, store)
        moved = change_shipping_address(order_id, ADDRESS | {"city": "Hamburg"}, store=store)
        part = record_payment(order_id, "pay-1", 1000, "EUR", store=store)
        rest = record_payment(order_id, "pay-2", TOTAL - 1000, "EUR", store=store)
        shipped = ship_order(order_id, "DHL", "JD0001", store=store)
        delivered = confirm_delivery(order_id, store=store)

        assert [r.revision for r in (moved, part, rest, shipped, delivered)] == [1, 2, 4, 5, 6]
        assert [e.event.event_type for e in rest.events] == ["PaymentReceived", "OrderPaid"]
        assert [e.revision for e in rest.events] == [3, 4]
        view = get_order(order_id, store=store)
        assert view.state.status == "DELIVERED"
        assert view.state.facts.shipping_address is not None
        assert view.state.facts.shipping_address.city == "Hamburg"
        assert (view.state.facts.paid, view.revision) == (TOTAL, 6)

    def test_cancelling_a_paid_order_refunds_what_was_paid(
        self, store: EsdbStore, order_id: str
    ) -> None:
        place(order_id, store)
        record_payment(order_id, "pay-1", 700, "EUR", store=store)
        result = cancel_order(order_id, "customer asked", store=store)
        assert [e.event.event_type for e in result.events] == ["OrderCancelled", "RefundIssued"]
        assert result.events[1].event.model_dump()["amount"] == 700
        view = get_order(order_id, store=store)
        assert (view.state.status, view.state.facts.refunded) == ("CANCELLED", 700)

    def test_rules_that_need_the_state_are_enforced(self, store: EsdbStore, order_id: str) -> None:
        with pytest.raises(OrderNotFound):
            ship_order(order_id, "DHL", "1", store=store)
        place(order_id, store)
        with pytest.raises(CurrencyMismatch):
            record_payment(order_id, "p", 100, "USD", store=store)
        with pytest.raises(PaymentExceedsOutstanding) as over:
            record_payment(order_id, "p", TOTAL + 1, "EUR", store=store)
        assert over.value.outstanding == TOTAL
        with pytest.raises(WrongStatus) as early:
            ship_order(order_id, "DHL", "1", store=store)
        assert early.value.rule == "ship-order-requires-paid"
        assert get_order(order_id, store=store).revision == 0


class TestIdempotency:
    def test_the_same_command_id_twice_appends_once(
        self, store: EsdbStore, client: EventStoreDBClient, order_id: str
    ) -> None:
        place(order_id, store)
        first = record_payment(order_id, "pay-1", TOTAL, "EUR", store=store, command_id="cmd-42")
        again = record_payment(order_id, "pay-1", TOTAL, "EUR", store=store, command_id="cmd-42")

        assert (first.already_applied, again.already_applied) == (False, True)
        assert (again.revision, again.commit_position) == (first.revision, first.commit_position)
        assert [e.event_id for e in again.events] == [e.event_id for e in first.events]
        assert [e.type for e in stored(client, order_id)] == [
            "OrderPlaced",
            "PaymentReceived",
            "OrderPaid",
        ]

    def test_a_repeated_command_is_recognised_after_later_events(
        self, store: EsdbStore, client: EventStoreDBClient, order_id: str
    ) -> None:
        place(order_id, store, command_id="place-1")
        record_payment(order_id, "pay-1", 100, "EUR", store=store)
        again = place(order_id, store, command_id="place-1")
        assert again.already_applied
        assert again.revision == 0
        assert len(stored(client, order_id)) == 2

    def test_a_recorded_payment_id_under_a_new_command_id_is_a_no_op(
        self, store: EsdbStore, client: EventStoreDBClient, order_id: str
    ) -> None:
        place(order_id, store)
        record_payment(order_id, "pay-1", 100, "EUR", store=store)
        again = record_payment(order_id, "pay-1", 100, "EUR", store=store)
        assert again.already_applied
        assert again.events == ()
        assert again.revision == 1
        assert len(stored(client, order_id)) == 2

    def test_the_server_deduplicates_a_resent_append(
        self, store: EsdbStore, client: EventStoreDBClient, order_id: str
    ) -> None:
        # What a retry after a lost reply does: same ids, same expected revision.
        context, event = placed_event(order_id)
        encoded = [encode(event, context, 0)]
        first = store.append(order_id, None, encoded)
        second = store.append(order_id, None, encoded)
        assert first == second
        assert len(stored(client, order_id)) == 1


class TestStoreErrors:
    def test_a_stale_expected_revision_is_a_concurrency_conflict(
        self, store: EsdbStore, order_id: str
    ) -> None:
        place(order_id, store)
        context, event = placed_event(order_id)
        with pytest.raises(ConcurrencyConflict) as caught:
            store.append(order_id, None, [encode(event, context, 0)])
        assert caught.value.stream == f"order-{order_id}"
        assert caught.value.expected_revision is None

    def test_an_unreachable_store_names_the_uri_without_the_password(self, order_id: str) -> None:
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        uri = f"esdb://admin:hunter2@127.0.0.1:{port}?Tls=false"
        with EsdbStore(uri, timeout=2) as dead, pytest.raises(StoreUnavailable) as caught:
            place(order_id, dead)
        assert f"esdb://admin:***@127.0.0.1:{port}" in str(caught.value)
        assert "hunter2" not in str(caught.value)


class TestTransientFailures:
    @pytest.mark.emulator_only
    def test_a_command_rides_out_a_server_crash_and_restart(
        self, emulator: EmulatorProcess, order_id: str
    ) -> None:
        with EsdbStore(emulator.uri) as store:
            place(order_id, store)
            emulator.kill()  # SIGKILL: no goodbye to the client
            restarter = threading.Thread(target=emulator.restart)
            restarter.start()
            try:
                result = record_payment(order_id, "pay-1", TOTAL, "EUR", store=store)
            finally:
                restarter.join()
            # Whether our retry or esdbclient's own reconnect-and-retry absorbs the outage
            # depends on how fast the restart wins the race, so only the outcome is asserted.
            assert [e.event.event_type for e in result.events] == ["PaymentReceived", "OrderPaid"]
            view = get_order(order_id, store=store)
            assert (view.state.status, view.revision) == ("PAID", 2)
