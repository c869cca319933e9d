"""The `order_timeline` read model: one row per event, with a one-line human summary.

Rows carry the stored type and schema version beside the current type, so a legacy
event shows where it came from.
"""

from __future__ import annotations

from collections.abc import Sequence

from orders.codec import RecordedOrderEvent
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
from projections.read_models.projection import Projection, Statement, iso, occurred

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS order_timeline (
        order_id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        stored_type TEXT NOT NULL,
        stored_version INTEGER NOT NULL,
        occurred_at TEXT NOT NULL,
        correlation_id TEXT,
        causation_id TEXT,
        actor TEXT,
        summary TEXT NOT NULL,
        PRIMARY KEY (order_id, revision)
    )
    """,
    "CREATE INDEX IF NOT EXISTS order_timeline_occurred ON order_timeline (occurred_at)",
)

_INSERT = """
    INSERT INTO order_timeline (order_id, revision, event_type, stored_type, stored_version,
        occurred_at, correlation_id, causation_id, actor, summary)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def apply(recorded: RecordedOrderEvent) -> Sequence[Statement]:
    """The statement that adds `recorded` as a row of its order's timeline."""
    event, meta = recorded.event, recorded.metadata
    row = (
        event.order_id,
        recorded.revision,
        event.event_type,
        recorded.stored_type,
        recorded.stored_version,
        iso(occurred(recorded)),
        meta.correlation_id,
        meta.causation_id,
        meta.actor,
        summary(event),
    )
    return [(_INSERT, row)]


def summary(event: OrderEvent) -> str:
    """One line saying what happened, for people reading an order's history."""
    match event:
        case OrderPlaced() as e:
            lines = f"{len(e.lines)} line{'s' if len(e.lines) != 1 else ''}"
            where = f", ship to {_place(e.shipping_address)}" if e.shipping_address else ""
            return f"placed by {e.customer_id}: {lines}, {format_money(e.total, e.currency)}{where}"
        case ShippingAddressChanged() as e:
            return f"shipping address changed to {_place(e.shipping_address)}"
        case PaymentReceived() as e:
            return f"payment {e.payment_id} of {format_money(e.amount, e.currency)} received"
        case OrderPaid():
            return "paid in full"
        case OrderShipped() as e:
            return f"shipped with {e.carrier} (tracking {e.tracking_number})"
        case OrderDelivered():
            return "delivered"
        case OrderCancelled() as e:
            return f"cancelled: {e.reason}"
        case RefundIssued() as e:
            return f"refund of {format_money(e.amount, e.currency)} issued"


def _place(address: ShippingAddress) -> str:
    return f"{address.city} {address.country}"


PROJECTION = Projection(
    name="order_timeline",
    schema=SCHEMA,
    tables={"order_timeline": ("order_id", "revision")},
    apply=apply,
    description="one row per event with a one-line summary",
)
