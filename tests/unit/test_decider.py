"""Decider specs: every command rule and every event's effect on the state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from decider_spec import given
from hypothesis import given as for_all
from hypothesis import settings
from hypothesis import strategies as st

from orders.commands import (
    CancelOrder,
    ChangeShippingAddress,
    ConfirmDelivery,
    LineItem,
    PlaceOrder,
    RecordPayment,
    ShipOrder,
)
from orders.decider import (
    Cancelled,
    Delivered,
    NotPlaced,
    Paid,
    Pending,
    Shipped,
    Status,
    decide,
    evolve,
    fold,
    initial_state,
)
from orders.errors import (
    CurrencyMismatch,
    OrderAlreadyExists,
    OrderNotFound,
    PaymentExceedsOutstanding,
    PaymentIdReused,
    WrongStatus,
)
from orders.events import (
    OrderCancelled,
    OrderDelivered,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
    PaymentReceived,
    RefundIssued,
    ShippingAddressChanged,
)
from orders.values import OrderLine, ShippingAddress

OID = "5f0c1b8e-3d7a-4a57-9a51-6f1f2b0c9e11"
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
HOME = ShippingAddress(
    name="Ada Lovelace",
    line1="12 St James's Sq",
    city="London",
    postal_code="SW1Y 4JH",
    country="GB",
)
WORK = ShippingAddress(
    name="Ada Lovelace", line1="1 Main St", city="Berlin", postal_code="10115", country="DE"
)


def placed(total_lines: tuple[tuple[str, int, int], ...] = (("sku-1", 2, 1500),)) -> OrderPlaced:
    lines = tuple(OrderLine(sku=s, quantity=q, unit_price=p) for s, q, p in total_lines)
    return OrderPlaced(
        order_id=OID,
        customer_id="cust-1",
        lines=lines,
        currency="EUR",
        total=sum(q * p for _, q, p in total_lines),
        shipping_address=HOME,
        placed_at=T0,
    )


def payment(pid: str, amount: int, currency: str = "EUR") -> PaymentReceived:
    return PaymentReceived(
        order_id=OID, payment_id=pid, amount=amount, currency=currency, received_at=T1
    )


def pay(pid: str, amount: int, currency: str = "EUR") -> RecordPayment:
    return RecordPayment(order_id=OID, payment_id=pid, amount=amount, currency=currency, at=T1)


PAID = (placed(), payment("p-1", 3000), OrderPaid(order_id=OID, total=3000, paid_at=T1))
SHIPPED = (*PAID, OrderShipped(order_id=OID, carrier="DHL", tracking_number="JD1", shipped_at=T1))
DELIVERED = (*SHIPPED, OrderDelivered(order_id=OID, delivered_at=T1))
CANCELLED = (placed(), OrderCancelled(order_id=OID, reason="changed mind", cancelled_at=T1))


def place_command(**overrides: Any) -> PlaceOrder:
    fields: dict[str, Any] = {
        "order_id": OID,
        "customer_id": "cust-1",
        "lines": (LineItem(sku="sku-1", quantity=2, unit_price=1500),),
        "currency": "EUR",
        "shipping_address": HOME,
        "at": T0,
    }
    return PlaceOrder(**(fields | overrides))


class TestPlaceOrder:
    def test_a_new_order_is_placed_with_the_total_computed_from_its_lines(self) -> None:
        lines = (
            LineItem(sku="a", quantity=2, unit_price=1250),
            LineItem(sku="b", quantity=3, unit_price=99),
        )
        state = (
            given()
            .when(place_command(lines=lines))
            .then(
                OrderPlaced(
                    order_id=OID,
                    customer_id="cust-1",
                    lines=(
                        OrderLine(sku="a", quantity=2, unit_price=1250),
                        OrderLine(sku="b", quantity=3, unit_price=99),
                    ),
                    currency="EUR",
                    total=2797,
                    shipping_address=HOME,
                    placed_at=T0,
                )
            )
        )
        assert isinstance(state, Pending)
        assert state.facts.outstanding == 2797

    def test_an_order_may_be_placed_without_an_address(self) -> None:
        state = (
            given()
            .when(place_command(shipping_address=None))
            .then(placed().model_copy(update={"shipping_address": None}))
        )
        assert isinstance(state, Pending)
        assert state.facts.shipping_address is None

    def test_a_free_order_is_paid_at_once(self) -> None:
        free = (LineItem(sku="gift", quantity=1, unit_price=0),)
        state = (
            given()
            .when(place_command(lines=free))
            .then(
                placed((("gift", 1, 0),)),
                OrderPaid(order_id=OID, total=0, paid_at=T0),
            )
        )
        assert isinstance(state, Paid)

    @pytest.mark.parametrize("history", [(placed(),), PAID, SHIPPED, DELIVERED, CANCELLED])
    def test_an_existing_order_cannot_be_placed_again(self, history: tuple[Any, ...]) -> None:
        error = given(*history).when(place_command()).raises(OrderAlreadyExists)
        assert error.order_id == OID
        assert error.status == fold(history).status


class TestChangeShippingAddress:
    @pytest.mark.parametrize("history", [(placed(),), PAID])
    def test_the_address_changes_before_shipping(self, history: tuple[Any, ...]) -> None:
        command = ChangeShippingAddress(order_id=OID, shipping_address=WORK, at=T1)
        state = (
            given(*history)
            .when(command)
            .then(ShippingAddressChanged(order_id=OID, shipping_address=WORK, changed_at=T1))
        )
        assert not isinstance(state, NotPlaced)
        assert state.facts.shipping_address == WORK
        assert state.status == fold(history).status

    @pytest.mark.parametrize("history", [SHIPPED, DELIVERED, CANCELLED])
    def test_the_address_is_fixed_once_shipped_or_cancelled(self, history: tuple[Any, ...]) -> None:
        command = ChangeShippingAddress(order_id=OID, shipping_address=WORK, at=T1)
        error = given(*history).when(command).raises(WrongStatus)
        assert error.rule == "change-shipping-address-requires-pending-or-paid"
        assert error.status == fold(history).status

    def test_an_unknown_order_has_no_address_to_change(self) -> None:
        command = ChangeShippingAddress(order_id=OID, shipping_address=WORK, at=T1)
        error = given().when(command).raises(OrderNotFound)
        assert error.status is None


class TestRecordPayment:
    def test_a_partial_payment_is_received(self) -> None:
        state = given(placed()).when(pay("p-1", 1000)).then(payment("p-1", 1000))
        assert isinstance(state, Pending)
        assert (state.facts.paid, state.facts.outstanding) == (1000, 2000)

    def test_the_payment_that_clears_the_balance_also_pays_the_order(self) -> None:
        state = (
            given(placed(), payment("p-1", 1000))
            .when(pay("p-2", 2000))
            .then(payment("p-2", 2000), OrderPaid(order_id=OID, total=3000, paid_at=T1))
        )
        assert isinstance(state, Paid)
        assert state.facts.paid_at == T1

    def test_a_payment_above_the_outstanding_balance_is_refused(self) -> None:
        error = (
            given(placed(), payment("p-1", 1000))
            .when(pay("p-2", 2001))
            .raises(PaymentExceedsOutstanding)
        )
        assert isinstance(error, PaymentExceedsOutstanding)
        assert (error.amount, error.outstanding) == (2001, 2000)
        assert error.rule == "payment-must-not-exceed-outstanding"

    def test_a_payment_in_another_currency_is_refused(self) -> None:
        error = given(placed()).when(pay("p-1", 1000, "USD")).raises(CurrencyMismatch)
        assert "USD" in str(error)
        assert "EUR" in str(error)

    def test_a_recorded_payment_id_is_a_no_op(self) -> None:
        given(placed(), payment("p-1", 1000)).when(pay("p-1", 1000)).then()

    def test_a_recorded_payment_id_is_a_no_op_even_after_the_order_is_paid(self) -> None:
        given(*PAID).when(pay("p-1", 3000)).then()

    def test_a_recorded_payment_id_with_another_amount_is_refused_naming_both(self) -> None:
        error = given(placed(), payment("d1", 100)).when(pay("d1", 300)).raises(PaymentIdReused)
        assert error.rule == "payment-id-must-name-one-payment"
        assert "'d1'" in str(error)
        assert "amount 100 recorded, 300 given" in str(error)

    def test_a_recorded_payment_id_in_another_currency_is_refused(self) -> None:
        error = (
            given(placed(), payment("d1", 100)).when(pay("d1", 100, "USD")).raises(PaymentIdReused)
        )
        assert isinstance(error, PaymentIdReused)
        assert error.mismatch == "currency EUR recorded, USD given"

    def test_the_payment_id_rule_holds_after_the_order_is_paid(self) -> None:
        # checked before the status, so the retry that paid the order is told apart too
        error = given(*PAID).when(pay("p-1", 2999)).raises(PaymentIdReused)
        assert "amount 3000 recorded, 2999 given" in str(error)

    def test_a_payment_id_is_compared_with_its_first_recording(self) -> None:
        history = (placed(), payment("p-1", 1000), payment("p-1", 500))  # e.g. legacy data
        given(*history).when(pay("p-1", 1000)).then()
        given(*history).when(pay("p-1", 500)).raises(PaymentIdReused)

    @pytest.mark.parametrize("history", [PAID, SHIPPED, DELIVERED, CANCELLED])
    def test_only_pending_orders_take_payments(self, history: tuple[Any, ...]) -> None:
        error = given(*history).when(pay("p-new", 1)).raises(WrongStatus)
        assert error.rule == "record-payment-requires-pending"

    def test_an_unknown_order_takes_no_payment(self) -> None:
        given().when(pay("p-1", 1)).raises(OrderNotFound)


class TestShipOrder:
    def test_a_paid_order_ships(self) -> None:
        command = ShipOrder(order_id=OID, carrier="DHL", tracking_number="JD1", at=T1)
        state = (
            given(*PAID)
            .when(command)
            .then(OrderShipped(order_id=OID, carrier="DHL", tracking_number="JD1", shipped_at=T1))
        )
        assert isinstance(state, Shipped)
        assert state.shipment.carrier == "DHL"

    @pytest.mark.parametrize("history", [(placed(),), SHIPPED, DELIVERED, CANCELLED])
    def test_only_paid_orders_ship(self, history: tuple[Any, ...]) -> None:
        command = ShipOrder(order_id=OID, carrier="DHL", tracking_number="JD1", at=T1)
        error = given(*history).when(command).raises(WrongStatus)
        assert error.rule == "ship-order-requires-paid"

    def test_an_unknown_order_does_not_ship(self) -> None:
        command = ShipOrder(order_id=OID, carrier="DHL", tracking_number="JD1", at=T1)
        given().when(command).raises(OrderNotFound)


class TestConfirmDelivery:
    def test_a_shipped_order_is_delivered(self) -> None:
        state = (
            given(*SHIPPED)
            .when(ConfirmDelivery(order_id=OID, at=T1))
            .then(OrderDelivered(order_id=OID, delivered_at=T1))
        )
        assert isinstance(state, Delivered)

    @pytest.mark.parametrize("history", [(placed(),), PAID, DELIVERED, CANCELLED])
    def test_only_shipped_orders_are_delivered(self, history: tuple[Any, ...]) -> None:
        error = given(*history).when(ConfirmDelivery(order_id=OID, at=T1)).raises(WrongStatus)
        assert error.rule == "confirm-delivery-requires-shipped"


class TestCancelOrder:
    def cancel(self) -> CancelOrder:
        return CancelOrder(order_id=OID, reason="changed mind", at=T1)

    def test_an_unpaid_order_is_cancelled_without_refund(self) -> None:
        state = given(placed()).when(self.cancel()).then(CANCELLED[1])
        assert isinstance(state, Cancelled)
        assert state.facts.refunded == 0

    def test_a_partly_paid_order_refunds_what_was_paid(self) -> None:
        state = (
            given(placed(), payment("p-1", 700))
            .when(self.cancel())
            .then(
                CANCELLED[1],
                RefundIssued(order_id=OID, amount=700, currency="EUR", refunded_at=T1),
            )
        )
        assert isinstance(state, Cancelled)
        assert state.facts.refunded == 700

    def test_a_paid_order_refunds_the_total(self) -> None:
        given(*PAID).when(self.cancel()).then(
            CANCELLED[1], RefundIssued(order_id=OID, amount=3000, currency="EUR", refunded_at=T1)
        )

    @pytest.mark.parametrize("history", [SHIPPED, DELIVERED, CANCELLED])
    def test_shipped_or_cancelled_orders_cannot_be_cancelled(
        self, history: tuple[Any, ...]
    ) -> None:
        error = given(*history).when(self.cancel()).raises(WrongStatus)
        assert error.rule == "cancel-order-requires-pending-or-paid"

    def test_an_unknown_order_cannot_be_cancelled(self) -> None:
        given().when(self.cancel()).raises(OrderNotFound)


class TestEvolve:
    def test_the_initial_state_is_not_placed(self) -> None:
        assert initial_state() == NotPlaced()
        assert initial_state().status is None

    def test_events_before_placement_are_ignored(self) -> None:
        assert evolve(NotPlaced(), payment("p-1", 5)) == NotPlaced()

    def test_a_second_order_placed_does_not_reset_the_order(self) -> None:
        state = fold([placed(), payment("p-1", 100)])
        assert evolve(state, placed()) == state

    def test_payments_that_cover_the_total_make_it_paid_without_order_paid(self) -> None:
        # Legacy data: the old service stored no OrderPaid; covering the total was the fact.
        state = fold([placed(), payment("t-1", 1000), payment("t-2", 2000)])
        assert isinstance(state, Paid)
        assert state.facts.paid_at == T1

    def test_order_paid_moves_pending_to_paid(self) -> None:
        state = evolve(fold([placed()]), OrderPaid(order_id=OID, total=3000, paid_at=T1))
        assert state.status is Status.PAID

    def test_the_lifecycle_statuses_in_order(self) -> None:
        statuses = [fold(DELIVERED[:n]).status for n in range(len(DELIVERED) + 1)]
        assert statuses == [None, "PENDING", "PAID", "PAID", "SHIPPED", "DELIVERED"]

    def test_refunds_accumulate_on_a_cancelled_order(self) -> None:
        refund = RefundIssued(order_id=OID, amount=300, currency="EUR", refunded_at=T1)
        state = fold([*CANCELLED, refund, refund])
        assert isinstance(state, Cancelled)
        assert state.facts.refunded == 600
        assert state.reason == "changed mind"

    def test_out_of_order_lifecycle_events_leave_the_state_unchanged(self) -> None:
        pending = fold([placed()])
        shipped = OrderShipped(order_id=OID, carrier="X", tracking_number="1", shipped_at=T1)
        assert evolve(pending, shipped) == pending
        assert evolve(pending, OrderDelivered(order_id=OID, delivered_at=T1)) == pending


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@for_all(st.lists(st.integers(min_value=1, max_value=2000), max_size=12))
def test_payments_never_exceed_the_total_and_paid_means_fully_paid(amounts: list[int]) -> None:
    state = fold([placed()])
    accepted = 0
    for n, amount in enumerate(amounts):
        try:
            emitted = decide(pay(f"p-{n}", amount), state)
        except (PaymentExceedsOutstanding, WrongStatus):
            continue
        accepted += amount
        state = fold(emitted, state)
    assert not isinstance(state, NotPlaced)
    assert state.facts.paid == accepted <= 3000
    assert (state.status is Status.PAID) == (accepted == 3000)
