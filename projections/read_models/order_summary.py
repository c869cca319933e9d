"""The `order_summary` read model: one row per order with its status, money and milestones.

A legacy order (see domain.md) has no OrderPaid event: a payment that brings `paid` up to
the total of a PENDING order makes it PAID here, as the write side's decider does.
Address changes are counted only while the order has not shipped (PENDING or PAID).
"""

from __future__ import annotations

from collections.abc import Sequence

from orders.codec import RecordedOrderEvent
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
from projections.read_models.projection import Projection, Statement, iso

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS order_summary (
        order_id TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        status TEXT NOT NULL,
        currency TEXT NOT NULL,
        total INTEGER NOT NULL,
        paid INTEGER NOT NULL DEFAULT 0,
        refunded INTEGER NOT NULL DEFAULT 0,
        line_count INTEGER NOT NULL,
        city TEXT,
        country TEXT,
        address_changes_before_shipping INTEGER NOT NULL DEFAULT 0,
        placed_at TEXT NOT NULL,
        paid_at TEXT,
        shipped_at TEXT,
        delivered_at TEXT,
        cancelled_at TEXT,
        last_revision INTEGER NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS order_summary_status ON order_summary (status)",
    "CREATE INDEX IF NOT EXISTS order_summary_customer ON order_summary (customer_id)",
    "CREATE INDEX IF NOT EXISTS order_summary_placed ON order_summary (placed_at)",
)

_PLACE = """
    INSERT INTO order_summary (order_id, customer_id, status, currency, total, line_count,
                               city, country, placed_at, last_revision)
    VALUES (?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?)
"""
_ADDRESS = """
    UPDATE order_summary SET city = ?, country = ?, last_revision = ?,
        address_changes_before_shipping = address_changes_before_shipping
            + (status IN ('PENDING', 'PAID'))
    WHERE order_id = ?
"""
# SQLite evaluates every SET expression against the row as it was before the UPDATE.
_PAYMENT = """
    UPDATE order_summary SET paid = paid + ?, last_revision = ?,
        status = CASE WHEN status = 'PENDING' AND paid + ? >= total THEN 'PAID' ELSE status END,
        paid_at = CASE WHEN status = 'PENDING' AND paid + ? >= total THEN ? ELSE paid_at END
    WHERE order_id = ?
"""
_MILESTONE = (
    "UPDATE order_summary SET status = ?, {column} = ?, last_revision = ? WHERE order_id = ?"
)
_REFUND = "UPDATE order_summary SET refunded = refunded + ?, last_revision = ? WHERE order_id = ?"


def apply(recorded: RecordedOrderEvent) -> Sequence[Statement]:
    """The statements that fold `recorded` into its order's row."""
    rev = recorded.revision
    match recorded.event:
        case OrderPlaced() as e:
            address = e.shipping_address
            city = address.city if address else None
            country = address.country if address else None
            row = (e.order_id, e.customer_id, e.currency, e.total, len(e.lines))
            return [(_PLACE, (*row, city, country, iso(e.placed_at), rev))]
        case ShippingAddressChanged() as e:
            address = e.shipping_address
            return [(_ADDRESS, (address.city, address.country, rev, e.order_id))]
        case PaymentReceived() as e:
            amount = e.amount
            return [(_PAYMENT, (amount, rev, amount, amount, iso(e.received_at), e.order_id))]
        case OrderPaid() as e:
            return [_milestone("PAID", "paid_at", iso(e.paid_at), rev, e.order_id)]
        case OrderShipped() as e:
            return [_milestone("SHIPPED", "shipped_at", iso(e.shipped_at), rev, e.order_id)]
        case OrderDelivered() as e:
            return [_milestone("DELIVERED", "delivered_at", iso(e.delivered_at), rev, e.order_id)]
        case OrderCancelled() as e:
            return [_milestone("CANCELLED", "cancelled_at", iso(e.cancelled_at), rev, e.order_id)]
        case RefundIssued() as e:
            return [(_REFUND, (e.amount, rev, e.order_id))]


def _milestone(status: str, column: str, at: str, rev: int, order_id: str) -> Statement:
    return _MILESTONE.format(column=column), (status, at, rev, order_id)


PROJECTION = Projection(
    name="order_summary",
    schema=SCHEMA,
    tables={"order_summary": ("order_id",)},
    apply=apply,
    description="one row per order: status, money, milestones",
)
