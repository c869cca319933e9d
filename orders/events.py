"""The order events at their current schema versions (see docs: domain.md).

Each class carries its stable stored type name (`event_type`) and `schema_version`;
`EVENT_TYPES` maps stored names to classes for the codec.
"""

from __future__ import annotations

from typing import ClassVar, TypeAlias

from orders.values import (
    Currency,
    Frozen,
    Money,
    OrderLine,
    ShippingAddress,
    Text,
    UtcDatetime,
)


class _Event(Frozen):
    event_type: ClassVar[str]
    schema_version: ClassVar[int]


class OrderPlaced(_Event):
    """An order was placed; `total` is computed from the lines (minor units)."""

    event_type = "OrderPlaced"
    schema_version = 3

    order_id: Text
    customer_id: Text
    lines: tuple[OrderLine, ...]
    currency: Currency
    total: Money
    shipping_address: ShippingAddress | None
    placed_at: UtcDatetime


class ShippingAddressChanged(_Event):
    """The address an order ships to was replaced."""

    event_type = "ShippingAddressChanged"
    schema_version = 1

    order_id: Text
    shipping_address: ShippingAddress
    changed_at: UtcDatetime


class PaymentReceived(_Event):
    """A payment (identified by `payment_id`) was recorded against the order."""

    event_type = "PaymentReceived"
    schema_version = 2

    order_id: Text
    payment_id: Text
    amount: Money
    currency: Currency
    received_at: UtcDatetime


class OrderPaid(_Event):
    """The payments recorded cover the order total."""

    event_type = "OrderPaid"
    schema_version = 1

    order_id: Text
    total: Money
    paid_at: UtcDatetime


class OrderShipped(_Event):
    """The order left the warehouse with `carrier`."""

    event_type = "OrderShipped"
    schema_version = 1

    order_id: Text
    carrier: Text
    tracking_number: Text
    shipped_at: UtcDatetime


class OrderDelivered(_Event):
    """The carrier confirmed delivery."""

    event_type = "OrderDelivered"
    schema_version = 1

    order_id: Text
    delivered_at: UtcDatetime


class OrderCancelled(_Event):
    """The order was cancelled before shipping."""

    event_type = "OrderCancelled"
    schema_version = 1

    order_id: Text
    reason: Text
    cancelled_at: UtcDatetime


class RefundIssued(_Event):
    """Money paid for a cancelled order was refunded."""

    event_type = "RefundIssued"
    schema_version = 1

    order_id: Text
    amount: Money
    currency: Currency
    refunded_at: UtcDatetime


OrderEvent: TypeAlias = (
    OrderPlaced
    | ShippingAddressChanged
    | PaymentReceived
    | OrderPaid
    | OrderShipped
    | OrderDelivered
    | OrderCancelled
    | RefundIssued
)

EVENT_TYPES: dict[str, type[OrderEvent]] = {
    cls.event_type: cls
    for cls in (
        OrderPlaced,
        ShippingAddressChanged,
        PaymentReceived,
        OrderPaid,
        OrderShipped,
        OrderDelivered,
        OrderCancelled,
        RefundIssued,
    )
}
"""Stored type name -> event class (current schema versions)."""
