"""What every peer is asked to do, and the order-summary rows the peers (b) and (c) write.

One order: placed with 3 lines (and a shipping address), paid in full (PaymentReceived +
OrderPaid), shipped. The concurrency row changes the shipping address repeatedly.
Peers (b) and (c) write the same `order_summary` table as this project's projection
(`projections.read_models.order_summary.SCHEMA`), with the statements below.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from projections.read_models.order_summary import SCHEMA

LINES: list[dict[str, Any]] = [
    {"sku": "sku-1", "quantity": 2, "unit_price": 1250},
    {"sku": "sku-2", "quantity": 1, "unit_price": 4999},
    {"sku": "sku-3", "quantity": 3, "unit_price": 300},
]
TOTAL = sum(line["quantity"] * line["unit_price"] for line in LINES)
CURRENCY = "EUR"
ADDRESS: dict[str, Any] = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "line2": None,
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}
MOVED: dict[str, Any] = ADDRESS | {
    "line1": "1 Rue de Rivoli",
    "city": "Paris",
    "postal_code": "75001",
    "country": "FR",
}
CARRIER = "DHL"
EVENTS_PER_ORDER = 4  # OrderPlaced, PaymentReceived, OrderPaid, OrderShipped
COMMANDS_PER_ORDER = 3  # place, pay, ship

PLACE_SQL = (
    "INSERT INTO order_summary (order_id, customer_id, status, currency, total, line_count,"
    " city, country, placed_at, last_revision) VALUES (?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?)"
)
ADDRESS_SQL = (
    "UPDATE order_summary SET city = ?, country = ?, last_revision = ?,"
    " address_changes_before_shipping = address_changes_before_shipping + 1"
    " WHERE order_id = ?"
)
PAYMENT_SQL = "UPDATE order_summary SET paid = paid + ?, last_revision = ? WHERE order_id = ?"
PAID_SQL = (
    "UPDATE order_summary SET status = 'PAID', paid_at = ?, last_revision = ? WHERE order_id = ?"
)
SHIPPED_SQL = (
    "UPDATE order_summary SET status = 'SHIPPED', shipped_at = ?, last_revision = ?"
    " WHERE order_id = ?"
)


def open_summary(path: Path) -> sqlite3.Connection:
    """A new order-summary database (WAL, synchronous=FULL, as this project's read models),
    in autocommit mode: callers frame their own transactions."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    for statement in SCHEMA:
        conn.execute(statement)
    return conn


def summary_rows(path: Path) -> list[tuple[Any, ...]]:
    """(status, total, paid, line_count, city) per order, to check a peer's projection."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT status, total, paid, line_count, city FROM order_summary ORDER BY order_id"
        ).fetchall()
    finally:
        conn.close()
