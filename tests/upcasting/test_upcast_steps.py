"""Table tests: each upcaster step, the money conversion and the registry's own checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from orders.events import EVENT_TYPES
from upcasters import CURRENT_VERSIONS, STEPS, StepError, order_placed, payment_received
from upcasters.fields import cents
from upcasters.registry import InvalidRegistry, build
from upcasters.step import Recorded, Step

ORDER = "0e4b7a52-61c3-4f0e-9a3e-6f1d2b8c9a10"
AT = datetime(2021, 6, 1, 12, 30, 15, 250000, tzinfo=UTC)
RECORDED = Recorded(stream=f"order-{ORDER}", revision=0, recorded_at=AT)


def ts_placed(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "customerId": "c-1",
        "items": [{"productId": "p-1", "quantity": 2}],
        "totalAmount": 100.5,
    }
    return data | changes


# --- money ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (100.5, 10050),  # domain.md's example
        (100, 10000),  # JSON.stringify writes integral numbers without a fraction
        (0, 0),
        (19.99, 1999),  # float 19.99 * 100 is 1998.9999999999998: truncating would lose a cent
        (2.675, 268),  # half to even on the decimal text; round(2.675 * 100) would give 267
        (0.125, 12),  # 12.5 -> 12 (even)
        (0.135, 14),  # 13.5 -> 14 (even)
        (100.505, 10050),  # 10050.5 -> 10050 (even)
        (100.515, 10052),  # 10051.5 -> 10052 (even)
        (30.000000000000004, 3000),  # JavaScript's 10.1 + 19.9 and friends
        (0.1 + 0.2, 30),
        (1e-3, 0),
        (123456789.99, 12345678999),
    ],
)
def test_float_dollars_become_integer_cents_half_to_even(stored: float, expected: int) -> None:
    assert cents(stored, "amount") == expected


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ("100.50", "must be a number"),
        (None, "must be a number"),
        (True, "must be a number"),
        ([1], "must be a number"),
        (float("nan"), "must be finite"),
        (float("inf"), "must be finite"),
        (-0.01, "is negative"),
        (1e300, "out of range"),
    ],
)
def test_amounts_that_are_not_money_are_refused_naming_the_field(
    stored: object, message: str
) -> None:
    with pytest.raises(StepError, match=f"totalAmount.*{message}"):
        cents(stored, "totalAmount")


# --- OrderPlacedEvent v1 -> OrderPlaced v2 ----------------------------------------------


def test_typescript_order_placed_becomes_order_placed_v2() -> None:
    data = ts_placed(
        items=[{"productId": "p-1", "quantity": 2}, {"productId": "p-7", "quantity": 1}]
    )
    assert order_placed.typescript_v1_to_v2(data, RECORDED) == {
        "order_id": ORDER,
        "customer_id": "c-1",
        "lines": [
            {"sku": "p-1", "quantity": 2, "unit_price": None},
            {"sku": "p-7", "quantity": 1, "unit_price": None},
        ],
        "currency": "USD",
        "total": 10050,
    }


def test_typescript_step_leaves_its_input_untouched() -> None:
    data = ts_placed()
    before = ts_placed()
    order_placed.typescript_v1_to_v2(data, RECORDED)
    assert data == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"items": [], "totalAmount": 1.0}, "missing field 'customerId'"),
        (ts_placed(customerId=""), "customerId must be a non-empty string"),
        (ts_placed(customerId=7), "customerId must be a non-empty string"),
        (ts_placed(items={"productId": "p-1"}), "items must be a JSON array"),
        (ts_placed(items=["p-1"]), r"items\[0\] must be a JSON object"),
        (ts_placed(items=[{"quantity": 1}]), r"missing field 'items\[0\].productId'"),
        (ts_placed(items=[{"productId": "p"}]), r"missing field 'items\[0\].quantity'"),
        (
            ts_placed(items=[{"productId": "p", "quantity": 1, "price": 9.99}]),
            r"items\[0\] has unexpected field\(s\) \['price'\]",
        ),
        (ts_placed(currency="EUR"), r"unexpected field\(s\) \['currency'\]"),
        (ts_placed(totalAmount="100.50"), "totalAmount must be a number"),
        ({"customerId": "c-1", "items": []}, "missing field 'totalAmount'"),
    ],
)
def test_typescript_order_placed_that_cannot_be_converted_is_refused(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(StepError, match=message):
        order_placed.typescript_v1_to_v2(data, RECORDED)


@pytest.mark.parametrize("stream", ["orders-1", "order-", "customer-1", "1"])
def test_the_order_id_comes_only_from_an_order_stream(stream: str) -> None:
    recorded = Recorded(stream=stream, revision=3, recorded_at=AT)
    with pytest.raises(StepError, match="is not an order stream"):
        order_placed.typescript_v1_to_v2(ts_placed(), recorded)


# --- OrderPlaced v2 -> v3 -----------------------------------------------------------------

V2 = {
    "order_id": ORDER,
    "customer_id": "c-1",
    "lines": [{"sku": "p-1", "quantity": 2, "unit_price": 5025}],
    "currency": "EUR",
    "total": 10050,
}


def test_order_placed_v2_gets_no_address_and_the_recorded_time() -> None:
    assert order_placed.v2_to_v3(V2, RECORDED) == V2 | {
        "shipping_address": None,
        "placed_at": AT,
    }


def test_recorded_times_in_other_zones_are_given_in_utc() -> None:
    tokyo = AT.astimezone(timezone(timedelta(hours=9)))
    recorded = Recorded(stream=f"order-{ORDER}", revision=0, recorded_at=tokyo)
    placed_at = order_placed.v2_to_v3(V2, recorded)["placed_at"]
    assert (placed_at, placed_at.tzinfo) == (AT, UTC)


@pytest.mark.parametrize(
    ("data", "recorded", "message"),
    [
        (V2 | {"shipping_address": {"city": "Paris"}}, RECORDED, "unexpected field"),
        (V2 | {"placed_at": "2020-01-01T00:00:00Z"}, RECORDED, "unexpected field"),
        (
            V2,
            Recorded(stream=f"order-{ORDER}", revision=0, recorded_at=AT.replace(tzinfo=None)),
            "has no timezone",
        ),
    ],
)
def test_order_placed_v2_that_cannot_be_converted_is_refused(
    data: dict[str, Any], recorded: Recorded, message: str
) -> None:
    with pytest.raises(StepError, match=message):
        order_placed.v2_to_v3(data, recorded)


# --- OrderPaidEvent v1 -> PaymentReceived v2 ----------------------------------------------


def test_typescript_order_paid_becomes_payment_received_v2() -> None:
    data = {"transactionId": "t-9", "amount": 100.5}
    assert payment_received.typescript_order_paid_v1_to_v2(data, RECORDED) == {
        "order_id": ORDER,
        "payment_id": "t-9",
        "amount": 10050,
        "currency": "USD",
        "received_at": AT,
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"amount": 1.5}, "missing field 'transactionId'"),
        ({"transactionId": "t-9"}, "missing field 'amount'"),
        ({"transactionId": "t-9", "amount": "1.50"}, "amount must be a number"),
        ({"transactionId": "t-9", "amount": -1.5}, "amount -1.5 is negative"),
        ({"transactionId": "t-9", "amount": 1.5, "orderId": "x"}, "unexpected field"),
    ],
)
def test_typescript_order_paid_that_cannot_be_converted_is_refused(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(StepError, match=message):
        payment_received.typescript_order_paid_v1_to_v2(data, RECORDED)


# --- PaymentReceived v1 -> v2 -------------------------------------------------------------


def test_payment_received_v1_renames_fields_and_is_in_usd() -> None:
    data = {"order_id": ORDER, "transaction_id": "t-1", "amount_cents": 2599}
    assert payment_received.v1_to_v2(data, RECORDED) == {
        "order_id": ORDER,
        "payment_id": "t-1",
        "amount": 2599,
        "currency": "USD",
        "received_at": AT,
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount_cents": 25.99}, "amount_cents must be integer cents"),
        ({"amount_cents": -1}, "amount_cents -1 is negative"),
        ({"amount_cents": True}, "amount_cents must be integer cents"),
        ({"transaction_id": None}, "transaction_id must be a non-empty string"),
        ({"currency": "EUR"}, "unexpected field"),
    ],
)
def test_payment_received_v1_that_cannot_be_converted_is_refused(
    changes: dict[str, Any], message: str
) -> None:
    data = {"order_id": ORDER, "transaction_id": "t-1", "amount_cents": 2599} | changes
    with pytest.raises(StepError, match=message):
        payment_received.v1_to_v2(data, RECORDED)


# --- the registry -------------------------------------------------------------------------


def test_current_versions_are_those_of_the_event_models() -> None:
    assert dict(CURRENT_VERSIONS) == {name: cls.schema_version for name, cls in EVENT_TYPES.items()}


def test_every_legacy_row_of_the_domain_doc_has_its_step() -> None:
    assert {key: step.target for key, step in STEPS.items()} == {
        ("OrderPlacedEvent", 1): ("OrderPlaced", 2),
        ("OrderPlaced", 2): ("OrderPlaced", 3),
        ("OrderPaidEvent", 1): ("PaymentReceived", 2),
        ("PaymentReceived", 1): ("PaymentReceived", 2),
    }


def _noop(data: Any, recorded: Recorded) -> dict[str, Any]:
    return dict(data)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([Step("A", 1, "OrderPaid", 1, _noop), Step("A", 1, "OrderPaid", 1, _noop)], "two steps"),
        ([Step("OrderPaid", 1, "OrderPaid", 2, _noop)], "reads a current schema"),
        ([Step("A", 1, "B", 1, _noop)], r"stops at \('B', 1\)"),
        ([Step("A", 1, "B", 1, _noop), Step("B", 1, "A", 1, _noop)], "loops"),
    ],
)
def test_a_registry_that_is_not_a_chain_is_refused(steps: list[Step], message: str) -> None:
    with pytest.raises(InvalidRegistry, match=message):
        build(steps)
