"""One-line human summaries of order events (CLI history, timelines)."""

from __future__ import annotations

from typing import assert_never

from orders.events import (
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
from orders.iso_codes import format_money
from orders.values import ShippingAddress


def summarize(event: OrderEvent) -> str:
    """A short sentence saying what happened, money in major units."""
    match event:
        case OrderPlaced():
            count = sum(line.quantity for line in event.lines)
            return (
                f"placed by {event.customer_id}: {count} item(s),"
                f" total {format_money(event.total, event.currency)}"
            )
        case ShippingAddressChanged():
            return f"ships to {address_line(event.shipping_address)}"
        case PaymentReceived():
            return f"payment {event.payment_id} of {format_money(event.amount, event.currency)}"
        case OrderPaid():
            return "paid in full"
        case OrderShipped():
            return f"shipped with {event.carrier}, tracking {event.tracking_number}"
        case OrderDelivered():
            return "delivered"
        case OrderCancelled():
            return f"cancelled: {event.reason}"
        case RefundIssued():
            return f"refunded {format_money(event.amount, event.currency)}"
        case _:
            assert_never(event)


def address_line(address: ShippingAddress | None) -> str:
    """An address on one line ("not captured" when unknown)."""
    if address is None:
        return "not captured"
    parts = [address.name, address.line1, address.line2, f"{address.postal_code} {address.city}"]
    return ", ".join(part for part in [*parts, address.country] if part)
