"""Queries over read-model files folded from known events, as functions and as `orders`
subcommands with --json (no server: the read side answers from SQLite alone)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from readside_events import (
    ORDER,
    OTHER,
    PARIS,
    address,
    at,
    cancelled,
    paid,
    payment,
    placed,
    recorded,
    shipped,
)

from orders.events import OrderEvent
from projections import database
from projections.cli import main as projections_main
from projections.location import ReadModelFile
from projections.read_models import queries, registry
from projections.read_models.projection import iso

THIRD = "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"
FOURTH = "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"

EVENTS: list[OrderEvent] = [
    # A: c-1, USD 100.00, address changed while paid, then shipped
    placed(ORDER, customer="c-1", total=10_000, minute=0),
    payment(10_000, order_id=ORDER, minute=10),
    paid(order_id=ORDER, minute=10),
    address(PARIS, order_id=ORDER, minute=20),
    shipped(order_id=ORDER, minute=30),
    # B: c-1, EUR 40.00, cancelled two hours in
    placed(OTHER, customer="c-1", total=4_000, currency="EUR", minute=60),
    cancelled(order_id=OTHER, minute=120),
    # C: c-2, USD 50.00, address changed, paid, not shipped yet
    placed(THIRD, customer="c-2", total=5_000, minute=180),
    address(order_id=THIRD, minute=185),
    payment(5_000, order_id=THIRD, minute=24 * 60 + 5),
    paid(5_000, order_id=THIRD, minute=24 * 60 + 5),
    # D: c-3, USD 30.00, pending
    placed(FOURTH, customer="c-3", total=3_001, minute=300),
]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> queries.ReadModels:
    directory = tmp_path_factory.mktemp("read-models")
    for projection in registry.PROJECTIONS.values():
        location = ReadModelFile(directory / f"{projection.name}.db")
        generation = location.new_generation()
        conn = database.open_new(generation, projection)
        for item in recorded(EVENTS):
            for sql, params in projection.apply(item):
                conn.execute(sql, params)
        conn.close()
        location.link_first(generation)
    return queries.ReadModels(directory)


def test_list_by_status_and_customer(models: queries.ReadModels) -> None:
    """Orders filter by status and by customer, newest first."""
    assert [o.order_id for o in queries.list_orders(models, status="paid")] == [THIRD]
    by_customer = queries.list_orders(models, customer_id="c-1")
    assert [(o.order_id, o.status) for o in by_customer] == [
        (OTHER, "CANCELLED"),
        (ORDER, "SHIPPED"),
    ]
    assert len(queries.list_orders(models)) == 4


def test_customers_by_lifetime_value(models: queries.ReadModels) -> None:
    """One row per customer and currency, ranked within each currency (never across)."""
    rows = [
        (c.currency, c.rank, c.customer_id, c.lifetime_value) for c in queries.customers(models)
    ]
    assert rows == [
        ("EUR", 1, "c-1", 0),
        ("USD", 1, "c-1", 10_000),
        ("USD", 2, "c-2", 5_000),
        ("USD", 3, "c-3", 0),
    ]


def test_sales_in_a_date_range(models: queries.ReadModels) -> None:
    """Daily sales between two UTC days, inclusive."""
    day_two = queries.sales(models, since=date(2024, 3, 2), until=date(2024, 3, 2))
    assert [(s.day, s.currency, s.gross_paid, s.orders_placed) for s in day_two] == [
        ("2024-03-02", "USD", 5_000, 0)
    ]
    assert {s.day for s in queries.sales(models)} == {"2024-03-01", "2024-03-02"}


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (90, [("EUR", 1, 4_000), ("USD", 1, 10_000)]),  # B counts: not cancelled until 120
        (240, [("USD", 2, 7_500)]),  # B cancelled before; A and C
        (24 * 60, [("USD", 3, 6_000)]),  # (10000 + 5000 + 3001) / 3 = 6000.33 -> 6000
        (0, []),
    ],
)
def test_average_order_value_before(
    models: queries.ReadModels, minutes: int, expected: list[tuple[str, int, int]]
) -> None:
    """Per currency: orders placed before the time and not cancelled by then."""
    found = queries.average_order_value(at(minutes), models)
    assert [(a.currency, a.orders, a.average) for a in found] == expected
    assert all(a.before == iso(at(minutes)) for a in found)


def test_address_changes_before_shipping(models: queries.ReadModels) -> None:
    """A changed then shipped (c-1); C changed and still waits to ship (c-2)."""
    report = queries.address_changes_before_shipping(models)
    assert report == queries.AddressChangeReport(1, 1, 1, 1)


def test_read_model_commands_json(
    models: queries.ReadModels, capsys: pytest.CaptureFixture[str]
) -> None:
    """`projections orders|customers|sales|report ... --json` print the query results as JSON."""
    directory = ["--projections-dir", str(models.directory)]

    def run(*argv: str) -> object:
        assert projections_main([*argv, *directory, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    listed = run("orders", "--status", "SHIPPED")
    assert [o["order_id"] for o in listed] == [ORDER]  # type: ignore[union-attr,index]
    assert len(run("customers")) == 4  # type: ignore[arg-type]
    assert run("sales", "--since", "2024-03-02")[0]["gross_paid"] == 5_000  # type: ignore[index]
    report = run("report", "avg-order-value", "--before", "2024-03-01T13:30:00Z")
    assert report == [
        {
            "currency": "USD",
            "orders": 2,
            "total": 15_000,
            "average": 7_500,
            "before": "2024-03-01T13:30:00.000000Z",
        }
    ]
    changes = run("report", "address-changes-before-shipping")
    assert changes == {
        "customers": 1,
        "orders": 1,
        "customers_awaiting_shipment": 1,
        "orders_awaiting_shipment": 1,
    }


def test_missing_read_model_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a read model the command names where it looked and what to run."""
    assert (
        projections_main(["orders", "--projections-dir", str(tmp_path)]) == 8
    )  # not 4: no store failed
    assert "projections run" in capsys.readouterr().err
