"""The order commands: frozen, validated models (see docs: domain.md).

Validation that needs no state happens here (no lines, quantity < 1, negative price, bad
currency or country, amount <= 0); `build` turns pydantic's error into an `InvalidCommand`
naming the field. Rules that need the order's state live in the decider.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias, TypeVar
from uuid import UUID

from pydantic import AfterValidator, Field, Strict, ValidationError, field_validator

from orders.errors import InvalidCommand
from orders.values import (
    Currency,
    Frozen,
    Money,
    OrderLine,
    ShippingAddress,
    Text,
    UtcDatetime,
)


def _uuid_text(value: str) -> str:
    try:
        return str(UUID(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a UUID") from None


OrderId = Annotated[str, Strict(), AfterValidator(_uuid_text)]
"""An order id: a UUID string, normalised to lower-case canonical form."""

PositiveMoney = Annotated[int, Strict(), Field(gt=0)]


class LineItem(OrderLine):
    """A line of a new order: the unit price (minor units, >= 0) is required."""

    unit_price: Money


class PlaceOrder(Frozen):
    """Place a new order; its total is computed from `lines`."""

    order_id: OrderId
    customer_id: Text
    lines: tuple[LineItem, ...]
    currency: Currency
    shipping_address: ShippingAddress | None = None
    at: UtcDatetime

    @field_validator("lines")
    @classmethod
    def _has_lines(cls, lines: tuple[LineItem, ...]) -> tuple[LineItem, ...]:
        if not lines:
            raise ValueError("an order needs at least one line")
        return lines


class ChangeShippingAddress(Frozen):
    """Replace the address an order ships to."""

    order_id: OrderId
    shipping_address: ShippingAddress
    at: UtcDatetime


class RecordPayment(Frozen):
    """Record a payment; repeating a recorded payment (same id, amount, currency) is a no-op."""

    order_id: OrderId
    payment_id: Text
    amount: PositiveMoney
    currency: Currency
    at: UtcDatetime


class ShipOrder(Frozen):
    """Hand a paid order to a carrier."""

    order_id: OrderId
    carrier: Text
    tracking_number: Text
    at: UtcDatetime


class ConfirmDelivery(Frozen):
    """Confirm a shipped order was delivered."""

    order_id: OrderId
    at: UtcDatetime


class CancelOrder(Frozen):
    """Cancel an order that has not shipped; anything paid is refunded."""

    order_id: OrderId
    reason: Text
    at: UtcDatetime


OrderCommand: TypeAlias = (
    PlaceOrder | ChangeShippingAddress | RecordPayment | ShipOrder | ConfirmDelivery | CancelOrder
)

_C = TypeVar("_C", bound=Frozen)


def build(command_type: type[_C], **fields: Any) -> _C:
    """Validate `fields` into `command_type`; raises InvalidCommand naming the field."""
    try:
        return command_type.model_validate(fields)
    except ValidationError as e:
        raise invalid_from(e) from None


def invalid_from(error: ValidationError) -> InvalidCommand:
    """The first problem of a pydantic error, as an InvalidCommand with a dotted field."""
    first = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or error.title
    reason = str(first["msg"]).removeprefix("Value error, ")
    return InvalidCommand(field, reason)
