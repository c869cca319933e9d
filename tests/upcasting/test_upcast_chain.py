"""The chain: errors that name the event, pass-through of current events, and properties
(hypothesis) that the chain equals its steps applied one by one."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orders.events import (
    EVENT_TYPES,
    OrderCancelled,
    OrderDelivered,
    OrderEvent,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
    PaymentReceived,
    RefundIssued,
    ShippingAddressChanged,
)
from orders.values import OrderLine, ShippingAddress
from upcasters import (
    CURRENT_VERSIONS,
    STEPS,
    UnknownEventVersion,
    UpcastError,
    order_placed,
    path,
    payment_received,
    upcast,
)
from upcasters.fields import cents
from upcasters.step import Recorded

ORDER = "5d0c8a3e-2f1b-4a6c-9e7d-8b3f1a2c4d5e"
STREAM = f"order-{ORDER}"
AT = datetime(2020, 11, 3, 8, 15, tzinfo=UTC)

StepFunction = Callable[[Mapping[str, Any], Recorded], dict[str, Any]]

# Written out by hand (not read from the registry) so the property checks the registry too.
EXPECTED_STEPS: dict[tuple[str, int], list[StepFunction]] = {
    ("OrderPlacedEvent", 1): [order_placed.typescript_v1_to_v2, order_placed.v2_to_v3],
    ("OrderPlaced", 2): [order_placed.v2_to_v3],
    ("OrderPaidEvent", 1): [payment_received.typescript_order_paid_v1_to_v2],
    ("PaymentReceived", 1): [payment_received.v1_to_v2],
}


def up(event_type: str, version: int, data: dict[str, Any], revision: int = 4) -> Any:
    return upcast(event_type, version, data, stream=STREAM, revision=revision, recorded_at=AT)


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "version"),
    [
        ("OrderRefundedEvent", 1),  # a type no step knows
        ("OrderPlaced", 1),  # a version of a known type that never existed
        ("OrderPlaced", 4),  # a version from the future
        ("PaymentReceived", 0),
        ("OrderPlacedEvent", 2),
    ],
)
def test_an_unknown_type_or_version_is_an_error_naming_stream_revision_type_version(
    event_type: str, version: int
) -> None:
    with pytest.raises(UnknownEventVersion) as caught:
        up(event_type, version, {"order_id": ORDER}, revision=7)
    error = caught.value
    assert (error.stream, error.revision, error.event_type, error.schema_version) == (
        STREAM,
        7,
        event_type,
        version,
    )
    assert f"{event_type} v{version} at {STREAM}@7" in str(error)


def test_data_a_step_cannot_convert_is_an_error_naming_the_event_and_the_step() -> None:
    data = {"customerId": "c-1", "items": [], "totalAmount": "12.50"}
    with pytest.raises(UpcastError) as caught:
        up("OrderPlacedEvent", 1, data, revision=0)
    message = str(caught.value)
    assert f"OrderPlacedEvent v1 at {STREAM}@0" in message
    assert "step OrderPlacedEvent v1 -> OrderPlaced v2 failed" in message
    assert "totalAmount must be a number" in message


def test_a_failure_in_a_later_step_names_the_stored_type_and_version() -> None:
    naive = datetime(2020, 1, 1)  # naive on purpose: steps refuse it
    data = {"customerId": "c-1", "items": [], "totalAmount": 1}
    with pytest.raises(UpcastError) as caught:
        upcast("OrderPlacedEvent", 1, data, stream=STREAM, revision=2, recorded_at=naive)
    assert caught.value.event_type == "OrderPlacedEvent"
    assert caught.value.schema_version == 1
    assert "step OrderPlaced v2 -> OrderPlaced v3 failed" in str(caught.value)


def test_the_path_of_each_legacy_schema_is_its_steps_in_order() -> None:
    for key, functions in EXPECTED_STEPS.items():
        assert [step.convert for step in path(*key)] == functions
    assert path("OrderShipped", 1) == ()
    assert set(STEPS) == set(EXPECTED_STEPS)


# --- strategies ---------------------------------------------------------------------------

ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)
cents_amounts = st.integers(min_value=0, max_value=10**12)
float_dollars = st.one_of(
    cents_amounts.map(lambda c: c / 100),  # what a JavaScript service stores for c cents
    st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=10**9),
)
recorded_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
typescript_items = st.lists(
    st.fixed_dictionaries({"productId": ids, "quantity": st.integers(1, 1000)}), max_size=6
)
LEGACY: dict[tuple[str, int], st.SearchStrategy[dict[str, Any]]] = {
    ("OrderPlacedEvent", 1): st.fixed_dictionaries(
        {"customerId": ids, "items": typescript_items, "totalAmount": float_dollars}
    ),
    ("OrderPlaced", 2): st.fixed_dictionaries(
        {
            "order_id": st.just(ORDER),
            "customer_id": ids,
            "lines": st.lists(
                st.fixed_dictionaries(
                    {
                        "sku": ids,
                        "quantity": st.integers(1, 1000),
                        "unit_price": st.one_of(st.none(), cents_amounts),
                    }
                ),
                max_size=6,
            ),
            "currency": st.sampled_from(["USD", "EUR", "JPY", "GBP"]),
            "total": cents_amounts,
        }
    ),
    ("OrderPaidEvent", 1): st.fixed_dictionaries({"transactionId": ids, "amount": float_dollars}),
    ("PaymentReceived", 1): st.fixed_dictionaries(
        {"order_id": st.just(ORDER), "transaction_id": ids, "amount_cents": cents_amounts}
    ),
}
legacy_events = st.sampled_from(sorted(LEGACY)).flatmap(
    lambda key: st.tuples(st.just(key), LEGACY[key])
)


texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=30)
currencies = st.sampled_from(["USD", "EUR", "JPY", "GBP", "CHF"])
moments = recorded_times
addresses = st.builds(
    ShippingAddress,
    name=texts,
    line1=texts,
    line2=st.one_of(st.none(), texts),
    city=texts,
    postal_code=st.text("0123456789 AB-", min_size=1, max_size=10),
    country=st.sampled_from(["DE", "FR", "US", "JP", "GB"]),
)
lines = st.builds(
    OrderLine,
    sku=texts,
    quantity=st.integers(1, 1000),
    unit_price=st.one_of(st.none(), cents_amounts),
)
CURRENT: list[st.SearchStrategy[OrderEvent]] = [
    st.builds(
        OrderPlaced,
        order_id=texts,
        customer_id=texts,
        lines=st.lists(lines, max_size=5).map(tuple),
        currency=currencies,
        total=cents_amounts,
        shipping_address=st.one_of(st.none(), addresses),
        placed_at=moments,
    ),
    st.builds(
        ShippingAddressChanged, order_id=texts, shipping_address=addresses, changed_at=moments
    ),
    st.builds(
        PaymentReceived,
        order_id=texts,
        payment_id=texts,
        amount=cents_amounts,
        currency=currencies,
        received_at=moments,
    ),
    st.builds(OrderPaid, order_id=texts, total=cents_amounts, paid_at=moments),
    st.builds(
        OrderShipped, order_id=texts, carrier=texts, tracking_number=texts, shipped_at=moments
    ),
    st.builds(OrderDelivered, order_id=texts, delivered_at=moments),
    st.builds(OrderCancelled, order_id=texts, reason=texts, cancelled_at=moments),
    st.builds(
        RefundIssued, order_id=texts, amount=cents_amounts, currency=currencies, refunded_at=moments
    ),
]
current_events = st.one_of(CURRENT)


def test_the_current_strategies_cover_every_event_type() -> None:
    assert len(CURRENT) == len(EVENT_TYPES)


# --- properties ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(event=legacy_events, at=recorded_times, revision=st.integers(0, 10**6))
def test_the_chain_equals_its_steps_applied_one_by_one(
    event: tuple[tuple[str, int], dict[str, Any]], at: datetime, revision: int
) -> None:
    (event_type, version), data = event
    pristine = copy.deepcopy(data)
    recorded = Recorded(STREAM, revision, at)
    expected: dict[str, Any] = data
    for function in EXPECTED_STEPS[(event_type, version)]:
        expected = function(expected, recorded)
    current_type, current = upcast(
        event_type, version, data, stream=STREAM, revision=revision, recorded_at=at
    )
    assert current == expected
    assert data == pristine  # steps never change what they read
    assert CURRENT_VERSIONS[current_type] == path(event_type, version)[-1].target_version
    EVENT_TYPES[current_type].model_validate(current)  # and the result is a current event


@settings(max_examples=200, deadline=None)
@given(event=current_events, at=recorded_times, revision=st.integers(0, 10**6))
def test_an_event_at_its_current_version_passes_unchanged(
    event: OrderEvent, at: datetime, revision: int
) -> None:
    data = event.model_dump(mode="json")
    pristine = copy.deepcopy(data)
    current_type, current = upcast(
        event.event_type,
        event.schema_version,
        data,
        stream=STREAM,
        revision=revision,
        recorded_at=at,
    )
    assert current_type == event.event_type
    assert current is data
    assert current == pristine
    assert EVENT_TYPES[current_type].model_validate(current) == event


@given(amount=cents_amounts)
def test_cents_stored_as_javascript_dollars_come_back_exactly(amount: int) -> None:
    assert cents(amount / 100, "amount") == amount


@given(dollars=st.decimals(min_value=0, max_value=10**9, places=4))
def test_cents_round_the_stored_decimal_text_half_to_even(dollars: Decimal) -> None:
    stored = float(dollars)
    exact = (Decimal(repr(stored)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    assert cents(stored, "amount") == int(exact)


@given(event=legacy_events, at=recorded_times)
def test_upcasting_is_deterministic(
    event: tuple[tuple[str, int], dict[str, Any]], at: datetime
) -> None:
    (event_type, version), data = event
    first = upcast(event_type, version, data, stream=STREAM, revision=1, recorded_at=at)
    again = upcast(
        event_type, version, copy.deepcopy(data), stream=STREAM, revision=1, recorded_at=at
    )
    assert first == again


def test_the_recorded_time_is_used_to_the_microsecond() -> None:
    at = AT + timedelta(microseconds=123456)
    data = {"transactionId": "t", "amount": 1}
    _, upcast_data = upcast("OrderPaidEvent", 1, data, stream=STREAM, revision=0, recorded_at=at)
    assert upcast_data["received_at"] == at
    assert upcast_data["received_at"].tzinfo is UTC
