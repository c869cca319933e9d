"""Table tests of `apply` for customer_stats, daily_sales and order_timeline."""

from __future__ import annotations

from typing import Any

import pytest
from readside_events import (
    ORDER,
    OTHER,
    address,
    at,
    cancelled,
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
from projections.read_models import customer_stats, daily_sales, order_timeline
from projections.read_models.projection import iso

THIRD = "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"

STATS_CASES: list[tuple[str, list[OrderEvent], list[dict[str, Any]]]] = [
    (
        "one order placed",
        [placed(minute=0)],
        [
            {
                "customer_id": "c-1",
                "currency": "USD",
                "orders_placed": 1,
                "orders_cancelled": 0,
                "lifetime_value": 0,
                "first_order_at": iso(at(0)),
                "last_order_at": iso(at(0)),
            }
        ],
    ),
    (
        "payments add to the lifetime value, refunds take away",
        [
            placed(total=10_000),
            payment(10_000),
            paid(),
            placed(OTHER, total=3_000, minute=60),
            payment(3_000, order_id=OTHER),
            cancelled(order_id=OTHER),
            refund(3_000, order_id=OTHER),
        ],
        [
            {
                "customer_id": "c-1",
                "currency": "USD",
                "orders_placed": 2,
                "orders_cancelled": 1,
                "paid": 13_000,
                "refunded": 3_000,
                "lifetime_value": 10_000,
                "first_order_at": iso(at(0)),
                "last_order_at": iso(at(60)),
            }
        ],
    ),
    (
        "first and last order times whatever the order of folding",
        [placed(OTHER, minute=90), placed(minute=10), placed(THIRD, minute=50)],
        [
            {
                "customer_id": "c-1",
                "orders_placed": 3,
                "first_order_at": iso(at(10)),
                "last_order_at": iso(at(90)),
            }
        ],
    ),
    (
        "one row per customer and currency",
        [
            placed(currency="EUR"),
            placed(OTHER, currency="USD"),
            placed(THIRD, customer="c-2"),
            payment(10_000, currency="EUR"),
        ],
        [
            {"customer_id": "c-1", "currency": "EUR", "orders_placed": 1, "lifetime_value": 10_000},
            {"customer_id": "c-1", "currency": "USD", "orders_placed": 1, "lifetime_value": 0},
            {"customer_id": "c-2", "currency": "USD", "orders_placed": 1, "lifetime_value": 0},
        ],
    ),
    (
        "shipping and address events change nothing",
        [placed(), payment(10_000), paid(), address(), shipped()],
        [{"orders_placed": 1, "lifetime_value": 10_000, "orders_cancelled": 0}],
    ),
]


@pytest.mark.parametrize(
    ("events", "expected"), [c[1:] for c in STATS_CASES], ids=[c[0] for c in STATS_CASES]
)
def test_customer_stats_rows(events: list[OrderEvent], expected: list[dict[str, Any]]) -> None:
    """Each customer-and-currency row sums its orders' events."""
    found = rows(
        fold(customer_stats.PROJECTION, events),
        "SELECT * FROM customer_stats ORDER BY customer_id, currency",
    )
    assert [
        {k: row[k] for k in want} for row, want in zip(found, expected, strict=True)
    ] == expected


SALES_CASES: list[tuple[str, list[OrderEvent], list[dict[str, Any]]]] = [
    (
        "an order counts on the day it is placed",
        [placed()],
        [
            {
                "day": "2024-03-01",
                "currency": "USD",
                "orders_placed": 1,
                "gross_paid": 0,
                "refunded": 0,
                "net": 0,
            }
        ],
    ),
    (
        "payments and refunds count on their own days",
        [
            placed(total=10_000),
            payment(4_000, minute=60 * 24),
            payment(6_000, minute=60 * 48, pid="p-2"),
            cancelled(minute=60 * 48),
            refund(10_000, minute=60 * 48),
        ],
        [
            {"day": "2024-03-01", "orders_placed": 1, "gross_paid": 0, "refunded": 0, "net": 0},
            {
                "day": "2024-03-02",
                "orders_placed": 0,
                "gross_paid": 4_000,
                "refunded": 0,
                "net": 4_000,
            },
            {
                "day": "2024-03-03",
                "orders_placed": 0,
                "gross_paid": 6_000,
                "refunded": 10_000,
                "net": -4_000,
            },
        ],
    ),
    (
        "currencies are kept apart",
        [
            placed(currency="EUR"),
            placed(OTHER, currency="JPY", total=1_200),
            payment(1_200, order_id=OTHER, currency="JPY"),
        ],
        [
            {"day": "2024-03-01", "currency": "EUR", "orders_placed": 1, "gross_paid": 0},
            {"day": "2024-03-01", "currency": "JPY", "orders_placed": 1, "gross_paid": 1_200},
        ],
    ),
]


@pytest.mark.parametrize(
    ("events", "expected"), [c[1:] for c in SALES_CASES], ids=[c[0] for c in SALES_CASES]
)
def test_daily_sales_rows(events: list[OrderEvent], expected: list[dict[str, Any]]) -> None:
    """Each UTC day and currency sums what happened on it."""
    found = rows(
        fold(daily_sales.PROJECTION, events), "SELECT * FROM daily_sales ORDER BY day, currency"
    )
    assert [
        {k: row[k] for k in want} for row, want in zip(found, expected, strict=True)
    ] == expected


TIMELINE_CASES: list[tuple[OrderEvent, str]] = [
    (placed(total=12_050, lines=3), "placed by c-1: 3 lines, 120.50 USD, ship to Berlin DE"),
    (placed(total=1_000, lines=1, address=None, currency="JPY"), "placed by c-1: 1 line, 1000 JPY"),
    (address(), "shipping address changed to Paris FR"),
    (payment(4_000), "payment p-1 of 40.00 USD received"),
    (paid(), "paid in full"),
    (shipped(), "shipped with DHL (tracking T-1)"),
    (cancelled(reason="out of stock"), "cancelled: out of stock"),
    (refund(1_500, currency="BHD"), "refund of 1.500 BHD issued"),
]


@pytest.mark.parametrize(
    ("event", "summary"), TIMELINE_CASES, ids=lambda v: getattr(v, "event_type", "s")
)
def test_timeline_summary(event: OrderEvent, summary: str) -> None:
    """Each event type has a one-line human summary."""
    assert order_timeline.summary(event) == summary


def test_timeline_row_per_event_with_metadata() -> None:
    """A row per event carries its revision, types, time and correlation."""
    conn = fold(
        order_timeline.PROJECTION,
        [placed(), payment(10_000)],
        correlation_id="corr-9",
        stored_type="OrderPlacedEvent",
        stored_version=1,
    )
    found = rows(conn, "SELECT * FROM order_timeline ORDER BY revision")
    assert [(r["order_id"], r["revision"], r["event_type"]) for r in found] == [
        (ORDER, 0, "OrderPlaced"),
        (ORDER, 1, "PaymentReceived"),
    ]
    assert {r["correlation_id"] for r in found} == {"corr-9"}
    assert found[0]["stored_type"] == "OrderPlacedEvent"
    assert found[0]["stored_version"] == 1


def test_timeline_time_prefers_metadata_occurred_at() -> None:
    """occurred_at comes from the metadata; without it, from the recorded time."""
    [with_meta] = recorded([placed()], occurred_at=at(5))
    [without] = recorded([placed()])
    assert order_timeline.apply(with_meta)[0][1][5] == iso(at(5))
    assert order_timeline.apply(without)[0][1][5] == iso(without.recorded_at)  # type: ignore[arg-type]
