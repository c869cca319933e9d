"""Command and value validation: bad input is refused with an error naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orders.commands import PlaceOrder, RecordPayment, ShipOrder, build
from orders.errors import InvalidCommand
from orders.events import OrderPlaced

OID = "5F0C1B8E-3D7A-4A57-9A51-6F1F2B0C9E11"
AT = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
ADDRESS = {
    "name": "Ada",
    "line1": "1 Main St",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


def place(**overrides: Any) -> PlaceOrder:
    fields: dict[str, Any] = {
        "order_id": OID,
        "customer_id": "c-1",
        "lines": [{"sku": "a", "quantity": 1, "unit_price": 100}],
        "currency": "EUR",
        "shipping_address": ADDRESS,
        "at": AT,
    }
    return build(PlaceOrder, **(fields | overrides))


def test_a_valid_order_is_normalised() -> None:
    command = place(currency="eur", shipping_address=ADDRESS | {"country": "de"})
    assert command.order_id == OID.lower()
    assert command.currency == "EUR"
    assert command.shipping_address is not None
    assert command.shipping_address.country == "DE"


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"lines": []}, "lines", "at least one line"),
        (
            {"lines": [{"sku": "a", "quantity": 0, "unit_price": 1}]},
            "lines.0.quantity",
            "greater than or equal to 1",
        ),
        (
            {"lines": [{"sku": "a", "quantity": -2, "unit_price": 1}]},
            "lines.0.quantity",
            "greater than or equal to 1",
        ),
        (
            {"lines": [{"sku": "a", "quantity": 1, "unit_price": -1}]},
            "lines.0.unit_price",
            "greater than or equal to 0",
        ),
        ({"lines": [{"sku": "a", "quantity": 1, "unit_price": 1.5}]}, "lines.0.unit_price", "int"),
        ({"lines": [{"sku": "a", "quantity": 1}]}, "lines.0.unit_price", "required"),
        ({"lines": [{"sku": "", "quantity": 1, "unit_price": 1}]}, "lines.0.sku", "at least 1"),
        ({"currency": "EURO"}, "currency", "ISO 4217"),
        ({"currency": "XAU"}, "currency", "ISO 4217"),
        ({"currency": "ZZZ"}, "currency", "ISO 4217"),
        ({"shipping_address": ADDRESS | {"country": "XX"}}, "shipping_address.country", "3166"),
        ({"shipping_address": ADDRESS | {"country": "DEU"}}, "shipping_address.country", "3166"),
        ({"shipping_address": ADDRESS | {"city": ""}}, "shipping_address.city", "at least 1"),
        ({"shipping_address": {"name": "Ada"}}, "shipping_address.line1", "required"),
        ({"order_id": "order-1"}, "order_id", "not a UUID"),
        ({"customer_id": ""}, "customer_id", "at least 1"),
        ({"at": datetime(2024, 3, 1, 9, 0)}, "at", "timezone"),  # naive on purpose
        ({"total": 5}, "total", "not permitted"),
    ],
)
def test_invalid_orders_are_refused_naming_the_field(
    overrides: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(InvalidCommand) as caught:
        place(**overrides)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"invalid {field}: ")


@pytest.mark.parametrize(
    ("amount", "reason"),
    [(0, "greater than 0"), (-5, "greater than 0"), (10.0, "int"), (True, "int"), ("10", "int")],
)
def test_a_payment_amount_must_be_a_positive_integer(amount: object, reason: str) -> None:
    with pytest.raises(InvalidCommand) as caught:
        build(RecordPayment, order_id=OID, payment_id="p", amount=amount, currency="EUR", at=AT)
    assert caught.value.field == "amount"
    assert reason in caught.value.reason


def test_commands_are_immutable() -> None:
    command = build(ShipOrder, order_id=OID, carrier="DHL", tracking_number="1", at=AT)
    with pytest.raises(ValueError, match="frozen"):
        command.carrier = "UPS"  # type: ignore[misc]


def test_times_are_normalised_to_utc() -> None:
    event = OrderPlaced.model_validate(
        {
            "order_id": OID,
            "customer_id": "c",
            "lines": [{"sku": "a", "quantity": 1, "unit_price": None}],
            "currency": "USD",
            "total": 10050,
            "shipping_address": None,
            "placed_at": "2024-03-01T11:00:00+02:00",
        }
    )
    assert event.placed_at == AT
    assert event.placed_at.utcoffset() is not None
    assert event.lines[0].unit_price is None  # legacy lines may lack a price
