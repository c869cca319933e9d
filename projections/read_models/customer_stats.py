"""The `customer_stats` read model: one row per customer and currency.

Payments, refunds and cancellations name only the order, so the model keeps its own
`customer_orders` lookup (order -> customer, currency) written by OrderPlaced. Every
change is a commutative increment or a min/max, so orders may be folded in any
interleaving as long as each order's own events come in revision order.
"""

from __future__ import annotations

from collections.abc import Sequence

from orders.codec import RecordedOrderEvent
from orders.events import OrderCancelled, OrderPlaced, PaymentReceived, RefundIssued
from projections.read_models.projection import Projection, Statement, iso

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS customer_orders (
        order_id TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        currency TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS customer_stats (
        customer_id TEXT NOT NULL,
        currency TEXT NOT NULL,
        orders_placed INTEGER NOT NULL,
        orders_cancelled INTEGER NOT NULL DEFAULT 0,
        paid INTEGER NOT NULL DEFAULT 0,
        refunded INTEGER NOT NULL DEFAULT 0,
        lifetime_value INTEGER NOT NULL DEFAULT 0,
        first_order_at TEXT NOT NULL,
        last_order_at TEXT NOT NULL,
        PRIMARY KEY (customer_id, currency)
    )
    """,
)

_ORDER = "INSERT INTO customer_orders (order_id, customer_id, currency) VALUES (?, ?, ?)"
_PLACED = """
    INSERT INTO customer_stats (customer_id, currency, orders_placed, first_order_at, last_order_at)
    VALUES (?, ?, 1, ?, ?)
    ON CONFLICT (customer_id, currency) DO UPDATE SET
        orders_placed = orders_placed + 1,
        first_order_at = min(first_order_at, excluded.first_order_at),
        last_order_at = max(last_order_at, excluded.last_order_at)
"""
_OF_ORDER = (
    "(customer_id, currency) = "
    "(SELECT customer_id, currency FROM customer_orders WHERE order_id = ?)"
)
_PAID = f"""
    UPDATE customer_stats SET paid = paid + ?, lifetime_value = lifetime_value + ?
    WHERE {_OF_ORDER}
"""
_REFUNDED = f"""
    UPDATE customer_stats SET refunded = refunded + ?, lifetime_value = lifetime_value - ?
    WHERE {_OF_ORDER}
"""
_CANCELLED = f"UPDATE customer_stats SET orders_cancelled = orders_cancelled + 1 WHERE {_OF_ORDER}"


def apply(recorded: RecordedOrderEvent) -> Sequence[Statement]:
    """The statements that fold `recorded` into its customer's row."""
    match recorded.event:
        case OrderPlaced() as e:
            placed = iso(e.placed_at)
            return [
                (_ORDER, (e.order_id, e.customer_id, e.currency)),
                (_PLACED, (e.customer_id, e.currency, placed, placed)),
            ]
        case PaymentReceived() as e:
            return [(_PAID, (e.amount, e.amount, e.order_id))]
        case RefundIssued() as e:
            return [(_REFUNDED, (e.amount, e.amount, e.order_id))]
        case OrderCancelled() as e:
            return [(_CANCELLED, (e.order_id,))]
        case _:
            return []


PROJECTION = Projection(
    name="customer_stats",
    schema=SCHEMA,
    tables={
        "customer_stats": ("customer_id", "currency"),
        "customer_orders": ("order_id",),
    },
    apply=apply,
    description="one row per customer and currency: orders, lifetime value",
)
