"""Builders of decoded order events for the projections' table tests (no server)."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from orders.codec import EventMetadata, RecordedOrderEvent
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
from orders.values import OrderLine, ShippingAddress
from projections import database
from projections.read_models.projection import Projection

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
ORDER = "0b7f3c1e-5a8e-4d0b-9d0a-3d2c6f1e7a01"
OTHER = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
BERLIN = ShippingAddress(
    name="Ada", line1="Unter den Linden 1", city="Berlin", postal_code="10117", country="DE"
)
PARIS = ShippingAddress(
    name="Ada", line1="1 Rue de Rivoli", city="Paris", postal_code="75001", country="FR"
)


def at(minutes: float) -> datetime:
    """T0 plus `minutes`."""
    return T0 + timedelta(minutes=minutes)


def placed(
    order_id: str = ORDER,
    *,
    customer: str = "c-1",
    total: int = 10_000,
    currency: str = "USD",
    lines: int = 2,
    address: ShippingAddress | None = BERLIN,
    minute: float = 0,
) -> OrderPlaced:
    per_line = total // lines
    first = total - per_line * (lines - 1)
    prices = [first] + [per_line] * (lines - 1)
    return OrderPlaced(
        order_id=order_id,
        customer_id=customer,
        lines=tuple(
            OrderLine(sku=f"sku-{i}", quantity=1, unit_price=p) for i, p in enumerate(prices)
        ),
        currency=currency,
        total=total,
        shipping_address=address,
        placed_at=at(minute),
    )


def payment(
    amount: int,
    *,
    order_id: str = ORDER,
    currency: str = "USD",
    minute: float = 1,
    pid: str = "p-1",
) -> PaymentReceived:
    return PaymentReceived(
        order_id=order_id, payment_id=pid, amount=amount, currency=currency, received_at=at(minute)
    )


def paid(total: int = 10_000, *, order_id: str = ORDER, minute: float = 1) -> OrderPaid:
    return OrderPaid(order_id=order_id, total=total, paid_at=at(minute))


def address(
    to: ShippingAddress = PARIS, *, order_id: str = ORDER, minute: float = 2
) -> ShippingAddressChanged:
    return ShippingAddressChanged(order_id=order_id, shipping_address=to, changed_at=at(minute))


def shipped(*, order_id: str = ORDER, minute: float = 3) -> OrderShipped:
    return OrderShipped(
        order_id=order_id, carrier="DHL", tracking_number="T-1", shipped_at=at(minute)
    )


def delivered(*, order_id: str = ORDER, minute: float = 4) -> OrderDelivered:
    return OrderDelivered(order_id=order_id, delivered_at=at(minute))


def cancelled(
    *, order_id: str = ORDER, minute: float = 5, reason: str = "changed mind"
) -> OrderCancelled:
    return OrderCancelled(order_id=order_id, reason=reason, cancelled_at=at(minute))


def refund(
    amount: int, *, order_id: str = ORDER, currency: str = "USD", minute: float = 5
) -> RefundIssued:
    return RefundIssued(order_id=order_id, amount=amount, currency=currency, refunded_at=at(minute))


def recorded(events: list[OrderEvent], **meta: Any) -> list[RecordedOrderEvent]:
    """Each event as recorded at the next revision of its own order's stream."""
    revisions: dict[str, int] = {}
    out = []
    for event in events:
        revision = revisions.get(event.order_id, -1) + 1
        revisions[event.order_id] = revision
        out.append(
            RecordedOrderEvent(
                event=event,
                metadata=EventMetadata(
                    schema_version=event.schema_version,
                    correlation_id=meta.get("correlation_id", "corr-1"),
                    causation_id=meta.get("causation_id", "cause-1"),
                    command_id=str(uuid.uuid4()),
                    actor=meta.get("actor", "test"),
                    occurred_at=meta.get("occurred_at"),
                ),
                event_id=uuid.uuid4(),
                stream=f"order-{event.order_id}",
                revision=revision,
                commit_position=None,
                recorded_at=at(100 + len(out)),
                stored_type=meta.get("stored_type", event.event_type),
                stored_version=meta.get("stored_version", event.schema_version),
            )
        )
    return out


def fold(projection: Projection, events: list[OrderEvent], **meta: Any) -> sqlite3.Connection:
    """A fresh in-memory read model with `events` applied in order."""
    conn = database.open_memory(projection)
    for item in recorded(events, **meta):
        for sql, params in projection.apply(item):
            conn.execute(sql, params)
    return conn


def rows(conn: sqlite3.Connection, sql: str, *params: object) -> list[dict[str, Any]]:
    """Query results as dicts."""
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
