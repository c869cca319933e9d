"""The read-model subcommands of `projections`: orders, customers, sales, report.

They read the projections' SQLite files (`$PROJECTIONS_DIR`), which may lag the event
store by a moment; `orders show` keeps reading the order's own stream.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from rich.console import Console
from rich.table import Table

from orders.cli.common import (
    EXIT_NO_READ_MODEL,
    EXIT_OK,
    Subcommand,
    add_json_option,
    print_json,
    timestamp,
)
from orders.decider import Status as OrderStatus
from orders.iso_codes import format_money
from projections.errors import ReadModelMissing, ReadModelUnusable
from projections.read_models import queries

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Query: TypeAlias = Callable[[queries.ReadModels], Sequence["DataclassInstance"]]
_MONEY = frozenset({"total", "paid", "refunded", "lifetime_value", "gross_paid", "net", "average"})


def _common(parser: argparse.ArgumentParser) -> None:
    add_json_option(parser)
    parser.add_argument(
        "--projections-dir", type=Path, default=None, help="read models (default PROJECTIONS_DIR)"
    )


_STATUSES = tuple(status.value for status in OrderStatus)


def order_status(text: str) -> str:
    """argparse type for --status: one of the order statuses, any case."""
    if text.upper() not in _STATUSES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an order status: use one of {', '.join(_STATUSES)}"
        )
    return text.upper()


def row_limit(text: str) -> int:
    """argparse type for --limit: a whole number of rows, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} rows: the limit must be at least 1")
    return value


def _configure_list(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--status", type=order_status, help=", ".join(_STATUSES))
    parser.add_argument("--customer", help="only this customer's orders")
    parser.add_argument("--limit", type=row_limit, default=50, help="at most N rows (default 50)")
    _common(parser)


def _run_list(args: argparse.Namespace) -> int:
    return _show(
        args,
        "orders",
        lambda m: queries.list_orders(
            m, status=args.status, customer_id=args.customer, limit=args.limit
        ),
    )


def _configure_customers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--currency", help="only this currency")
    parser.add_argument(
        "--limit", type=row_limit, default=50, help="at most N per currency (default 50)"
    )
    _common(parser)


def _run_customers(args: argparse.Namespace) -> int:
    return _show(
        args,
        "customers by lifetime value",
        lambda m: queries.customers(m, currency=args.currency, limit=args.limit),
    )


def _configure_sales(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=date.fromisoformat, help="first UTC day (YYYY-MM-DD)")
    parser.add_argument("--until", type=date.fromisoformat, help="last UTC day (YYYY-MM-DD)")
    parser.add_argument("--currency", help="only this currency")
    _common(parser)


def _run_sales(args: argparse.Namespace) -> int:
    return _show(
        args,
        "daily sales",
        lambda m: queries.sales(m, since=args.since, until=args.until, currency=args.currency),
    )


def _configure_report(parser: argparse.ArgumentParser) -> None:
    reports = parser.add_subparsers(dest="report", required=True, metavar="REPORT")
    aov = reports.add_parser("avg-order-value", help="average order value before a time")
    aov.add_argument("--before", type=timestamp, required=True, metavar="TIME")
    _common(aov)
    changes = reports.add_parser(
        "address-changes-before-shipping",
        help="customers who changed a shipping address before the order shipped",
    )
    _common(changes)


def _run_report(args: argparse.Namespace) -> int:
    if args.report == "avg-order-value":
        return _show(
            args,
            f"average order value before {args.before.isoformat()}",
            lambda m: queries.average_order_value(args.before, m),
        )
    return _show(
        args,
        "address changes before shipping",
        lambda m: [queries.address_changes_before_shipping(m)],
        single=True,
    )


def _show(args: argparse.Namespace, title: str, query: Query, *, single: bool = False) -> int:
    try:
        rows = query(queries.ReadModels(args.projections_dir))
    except (ReadModelMissing, ReadModelUnusable) as e:
        sys.stderr.write(f"projections: {e}\n")
        if args.json:
            kind = "no_read_model" if isinstance(e, ReadModelMissing) else "read_model_unusable"
            print_json({"error": kind, "message": str(e), "exit_code": EXIT_NO_READ_MODEL})
        return EXIT_NO_READ_MODEL
    documents = [asdict(row) for row in rows]
    if args.json:
        print_json(documents[0] if single else documents)
    else:
        Console().print(table(title, documents))
    return EXIT_OK


def table(title: str, documents: Sequence[dict[str, object]], width: int | None = None) -> Table:
    """A rich table of query results; money columns shown in major units.

    When the rows would not fit `width` columns (default: the terminal's), long ids are
    shortened to their first characters and low-value columns are left out, in
    `_LOW_VALUE` order, until they do; the caption says so (`--json` has everything).
    """
    columns = list(documents[0]) if documents else ["(no rows)"]
    rows = [
        {k: _cell(k, v, str(document.get("currency", ""))) for k, v in document.items()}
        for document in documents
    ]
    rows, columns, note = _fit(rows, columns, width or Console().width)
    result = Table(title=title, caption=note)
    for column in columns:
        result.add_column(column, justify="right" if column in _MONEY else "left")
    for row in rows:
        result.add_row(*(row[column] for column in columns))
    return result


_SHORT_ID = 8
_LOW_VALUE = (
    "line_count",
    "refunded",
    "shipped_at",
    "city",
    "orders_cancelled",
    "first_order_at",
    "country",
    "last_order_at",
    "before",
    "paid",
    "placed_at",
)


def _fit(
    rows: list[dict[str, str]], columns: list[str], width: int
) -> tuple[list[dict[str, str]], list[str], str | None]:
    """Rows and columns that fit `width`, and a caption saying what was left out."""

    def needed(cols: list[str]) -> int:  # rich's default box: 3 per column + 1
        return 1 + sum(3 + max([len(c), *(len(r[c]) for r in rows)]) for c in cols)

    changes: list[str] = []
    if needed(columns) > width:
        long_ids = [
            c for c in columns if c.endswith("_id") and any(len(r[c]) > _SHORT_ID for r in rows)
        ]
        if long_ids:
            rows = [
                r | {c: r[c][:_SHORT_ID] + ("…" if len(r[c]) > _SHORT_ID else "") for c in long_ids}
                for r in rows
            ]
            changes.append("ids shortened")
    dropped = []
    for column in _LOW_VALUE:
        if needed(columns) <= width:
            break
        if column in columns and len(columns) > 1:
            columns = [c for c in columns if c != column]
            dropped.append(column)
    if dropped:
        changes.append(f"{', '.join(dropped)} left out")
    note = f"{'; '.join(changes)} to fit {width} columns (--json has it all)" if changes else None
    return rows, columns, note


def _cell(column: str, value: object, currency: str) -> str:
    if column in _MONEY and isinstance(value, int) and currency:
        return format_money(value, currency)
    return "" if value is None else str(value)


SUBCOMMANDS = (
    Subcommand("orders", "list orders from the read model", _configure_list, _run_list),
    Subcommand("customers", "customers and lifetime value", _configure_customers, _run_customers),
    Subcommand("sales", "daily sales per currency", _configure_sales, _run_sales),
    Subcommand("report", "reports over the read models", _configure_report, _run_report),
)
