"""The `daily_sales` read model: one row per UTC day and currency.

Orders count on the day they were placed, payments on the day received and refunds on
the day issued; `net` is what was paid minus what was refunded that day.
"""

from __future__ import annotations

from collections.abc import Sequence

from orders.codec import RecordedOrderEvent
from orders.events import OrderPlaced, PaymentReceived, RefundIssued
from projections.read_models.projection import Projection, Statement, day

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS daily_sales (
        day TEXT NOT NULL,
        currency TEXT NOT NULL,
        orders_placed INTEGER NOT NULL DEFAULT 0,
        gross_paid INTEGER NOT NULL DEFAULT 0,
        refunded INTEGER NOT NULL DEFAULT 0,
        net INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (day, currency)
    )
    """,
)

_UPSERT = """
    INSERT INTO daily_sales (day, currency, orders_placed, gross_paid, refunded, net)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (day, currency) DO UPDATE SET
        orders_placed = orders_placed + excluded.orders_placed,
        gross_paid = gross_paid + excluded.gross_paid,
        refunded = refunded + excluded.refunded,
        net = net + excluded.net
"""


def apply(recorded: RecordedOrderEvent) -> Sequence[Statement]:
    """The statement that adds `recorded` to its day's totals (none for other events)."""
    match recorded.event:
        case OrderPlaced() as e:
            return [(_UPSERT, (day(e.placed_at), e.currency, 1, 0, 0, 0))]
        case PaymentReceived() as e:
            return [(_UPSERT, (day(e.received_at), e.currency, 0, e.amount, 0, e.amount))]
        case RefundIssued() as e:
            return [(_UPSERT, (day(e.refunded_at), e.currency, 0, 0, e.amount, -e.amount))]
        case _:
            return []


PROJECTION = Projection(
    name="daily_sales",
    schema=SCHEMA,
    tables={"daily_sales": ("day", "currency")},
    apply=apply,
    description="one row per UTC day and currency: orders, paid, refunded, net",
)
