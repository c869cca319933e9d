"""Table tests of `order_summary.apply`: given an order's events, its summary row."""

from __future__ import annotations

from typing import Any

import pytest
from readside_events import (
    ORDER,
    PARIS,
    address,
    at,
    cancelled,
    delivered,
    fold,
    paid,
    payment,
    placed,
    recorded,
    refund,
    rows,
    shipped,
)

from orders.events import OrderEvent
from projections.read_models import order_summary
from projections.read_models.projection import iso

CASES: list[tuple[str, list[OrderEvent], dict[str, Any]]] = [
    (
        "placed",
        [placed(total=10_000, lines=3)],
        {
            "status": "PENDING",
            "customer_id": "c-1",
            "currency": "USD",
            "total": 10_000,
            "paid": 0,
            "refunded": 0,
            "line_count": 3,
            "city": "Berlin",
            "country": "DE",
            "placed_at": iso(at(0)),
            "paid_at": None,
            "last_revision": 0,
        },
    ),
    (
        "placed without an address (legacy)",
        [placed(address=None)],
        {"city": None, "country": None, "status": "PENDING"},
    ),
    (
        "partial payment stays pending",
        [placed(total=10_000), payment(4_000)],
        {"status": "PENDING", "paid": 4_000, "paid_at": None, "last_revision": 1},
    ),
    (
        "payments then OrderPaid",
        [placed(total=10_000), payment(4_000), payment(6_000, minute=2, pid="p-2"), paid(minute=3)],
        {"status": "PAID", "paid": 10_000, "paid_at": iso(at(3)), "last_revision": 3},
    ),
    (
        "legacy payment covering the total is paid without OrderPaid",
        [placed(total=10_000), payment(10_000, minute=7)],
        {"status": "PAID", "paid": 10_000, "paid_at": iso(at(7))},
    ),
    (
        "address change before shipping counts",
        [placed(), address(PARIS)],
        {"city": "Paris", "country": "FR", "address_changes_before_shipping": 1},
    ),
    (
        "address changes while paid count too",
        [placed(), payment(10_000), paid(), address(), address(minute=3)],
        {"address_changes_before_shipping": 2, "status": "PAID"},
    ),
    (
        "an address change after shipping does not count",
        [placed(), payment(10_000), paid(), shipped(), address(minute=9)],
        {"address_changes_before_shipping": 0, "city": "Paris", "status": "SHIPPED"},
    ),
    (
        "shipped and delivered",
        [placed(), payment(10_000), paid(), shipped(minute=3), delivered(minute=4)],
        {
            "status": "DELIVERED",
            "shipped_at": iso(at(3)),
            "delivered_at": iso(at(4)),
            "last_revision": 4,
        },
    ),
    (
        "cancelled with a refund",
        [placed(total=10_000), payment(2_500), cancelled(minute=5), refund(2_500)],
        {"status": "CANCELLED", "paid": 2_500, "refunded": 2_500, "cancelled_at": iso(at(5))},
    ),
]


@pytest.mark.parametrize(("events", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_order_summary_row(events: list[OrderEvent], expected: dict[str, Any]) -> None:
    """The order's row holds what its events say, in the order they happened."""
    [row] = rows(fold(order_summary.PROJECTION, events), "SELECT * FROM order_summary")
    assert {k: row[k] for k in expected} == expected
    assert row["order_id"] == ORDER


def test_orders_are_independent_rows() -> None:
    """Events of two orders fold into two rows, each with its own revision."""
    other = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
    conn = fold(
        order_summary.PROJECTION,
        [placed(), placed(other, customer="c-2"), payment(10_000), cancelled(order_id=other)],
    )
    found = rows(
        conn, "SELECT order_id, status, last_revision FROM order_summary ORDER BY order_id"
    )
    assert found == [
        {"order_id": ORDER, "status": "PAID", "last_revision": 1},
        {"order_id": other, "status": "CANCELLED", "last_revision": 1},
    ]


def test_apply_is_pure() -> None:
    """The same event always gives the same statements."""
    [item] = recorded([placed()])
    assert order_summary.apply(item) == order_summary.apply(item)
