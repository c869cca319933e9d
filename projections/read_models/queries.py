"""Queries over the read models, as Python functions (the `orders` reports call these).

The read side may lag the write side by a moment; `orders show` stays on the order's own
stream. Money is in minor units with its currency; nothing sums across currencies.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from projections import database
from projections.errors import ReadModelUnusable
from projections.location import ReadModelFile, projections_dir
from projections.read_models.projection import iso


@dataclass(frozen=True, slots=True)
class ReadModels:
    """Where the read models are: `directory` (default `$PROJECTIONS_DIR`)."""

    directory: Path | None = None

    @contextmanager
    def open(self, name: str) -> Iterator[sqlite3.Connection]:
        """A read-only connection to read model `name`; raises ReadModelMissing, or
        ReadModelUnusable when the file is corrupt, not a read model, or unreadable."""
        path = (self.directory or projections_dir()) / f"{name}.db"
        try:
            with closing(database.open_for_reading(ReadModelFile(path))) as conn:
                conn.row_factory = sqlite3.Row
                yield conn
        except sqlite3.DatabaseError as e:
            raise ReadModelUnusable(
                f"cannot read the {name} read model at {path}: {e} (rebuild it with"
                f" `projections rebuild {name}`, or point --projections-dir elsewhere)"
            ) from None


@dataclass(frozen=True, slots=True)
class OrderRow:
    order_id: str
    customer_id: str
    status: str
    currency: str
    total: int
    paid: int
    refunded: int
    line_count: int
    city: str | None
    country: str | None
    placed_at: str
    shipped_at: str | None


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """`rank` is the customer's place by lifetime value within `currency` (1 = highest):
    amounts in different currencies are never compared."""

    rank: int
    customer_id: str
    currency: str
    orders_placed: int
    orders_cancelled: int
    lifetime_value: int
    first_order_at: str
    last_order_at: str


@dataclass(frozen=True, slots=True)
class SalesRow:
    day: str
    currency: str
    orders_placed: int
    gross_paid: int
    refunded: int
    net: int


@dataclass(frozen=True, slots=True)
class AverageOrderValue:
    """Orders placed before `before` and not cancelled by then, per currency."""

    currency: str
    orders: int
    total: int
    average: int
    """Mean order total in minor units, rounded half to even."""
    before: str


@dataclass(frozen=True, slots=True)
class AddressChangeReport:
    """Customers who changed an order's address after placing it and before it shipped."""

    customers: int
    orders: int
    customers_awaiting_shipment: int
    orders_awaiting_shipment: int


@dataclass(frozen=True, slots=True)
class StatusCount:
    status: str
    orders: int


def status_counts(models: ReadModels | None = None) -> list[StatusCount]:
    """How many orders are in each status."""
    sql = "SELECT status, count(*) FROM order_summary GROUP BY status ORDER BY status"
    with (models or ReadModels()).open("order_summary") as conn:
        return [StatusCount(row[0], row[1]) for row in conn.execute(sql)]


def list_orders(
    models: ReadModels | None = None,
    *,
    status: str | None = None,
    customer_id: str | None = None,
    limit: int = 100,
) -> list[OrderRow]:
    """Orders, newest first, optionally only one status and/or customer."""
    where, params = _filters(status=status.upper() if status else None, customer_id=customer_id)
    sql = f"SELECT * FROM order_summary {where} ORDER BY placed_at DESC, order_id LIMIT ?"
    with (models or ReadModels()).open("order_summary") as conn:
        return [_order(row) for row in conn.execute(sql, (*params, limit))]


def customers(
    models: ReadModels | None = None, *, currency: str | None = None, limit: int = 100
) -> list[CustomerRow]:
    """The top `limit` customers of each currency by lifetime value, currency by currency
    (alphabetical), highest first: ranked within a currency, never across currencies."""
    where, params = _filters(currency=currency.upper() if currency else None)
    sql = (
        "SELECT * FROM (SELECT row_number() OVER (PARTITION BY currency"
        " ORDER BY lifetime_value DESC, customer_id) AS rank, customer_id, currency,"
        " orders_placed, orders_cancelled, lifetime_value, first_order_at, last_order_at"
        f" FROM customer_stats {where}) WHERE rank <= ? ORDER BY currency, rank"
    )
    with (models or ReadModels()).open("customer_stats") as conn:
        return [CustomerRow(**dict(row)) for row in conn.execute(sql, (*params, limit))]


def sales(
    models: ReadModels | None = None,
    *,
    since: date | None = None,
    until: date | None = None,
    currency: str | None = None,
) -> list[SalesRow]:
    """Daily sales from `since` to `until` (inclusive UTC days), oldest first."""
    bounds = {"day >= ?": since, "day <= ?": until}
    clauses = [clause for clause, value in bounds.items() if value]
    params = [value.isoformat() for value in bounds.values() if value]
    if currency:
        clauses, params = [*clauses, "currency = ?"], [*params, currency.upper()]
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    with (models or ReadModels()).open("daily_sales") as conn:
        rows = conn.execute(f"SELECT * FROM daily_sales {where} ORDER BY day, currency", params)
        return [SalesRow(**dict(row)) for row in rows]


def average_order_value(
    before: datetime, models: ReadModels | None = None
) -> list[AverageOrderValue]:
    """Per currency, the mean total of orders placed before `before` that were not
    cancelled before it (an order cancelled later still counted at that time)."""
    moment = iso(before)
    sql = (
        "SELECT currency, count(*) AS orders, sum(total) AS total FROM order_summary"
        " WHERE placed_at < ? AND (cancelled_at IS NULL OR cancelled_at >= ?)"
        " GROUP BY currency ORDER BY currency"
    )
    with (models or ReadModels()).open("order_summary") as conn:
        rows = conn.execute(sql, (moment, moment)).fetchall()
    return [
        AverageOrderValue(
            r["currency"], r["orders"], r["total"], _mean(r["total"], r["orders"]), moment
        )
        for r in rows
    ]


def address_changes_before_shipping(models: ReadModels | None = None) -> AddressChangeReport:
    """How many customers changed a shipping address after placing an order and before it
    shipped: counted on orders that have shipped since, and separately on orders that are
    still waiting to ship (PENDING or PAID)."""
    sql = (
        "SELECT count(DISTINCT customer_id), count(*) FROM order_summary"
        " WHERE address_changes_before_shipping > 0 AND {}"
    )
    with (models or ReadModels()).open("order_summary") as conn:
        shipped = conn.execute(sql.format("shipped_at IS NOT NULL")).fetchone()
        waiting = conn.execute(sql.format("status IN ('PENDING', 'PAID')")).fetchone()
    return AddressChangeReport(shipped[0], shipped[1], waiting[0], waiting[1])


def _filters(**values: str | None) -> tuple[str, list[str]]:
    present = {k: v for k, v in values.items() if v is not None}
    where = " AND ".join(f"{column} = ?" for column in present)
    return (f"WHERE {where}" if where else ""), list(present.values())


def _order(row: sqlite3.Row) -> OrderRow:
    return OrderRow(**{name: row[name] for name in OrderRow.__dataclass_fields__})


def _mean(total: int, count: int) -> int:
    return int((Decimal(total) / count).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
