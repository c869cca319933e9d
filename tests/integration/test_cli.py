"""The `orders` console command, run as a subprocess with ESDB_URI set."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orders import place_order, record_payment
from orders.store import EsdbStore

Cli = Callable[..., subprocess.CompletedProcess[str]]
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("orders")


def run_orders(uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `orders` script (or `python -m orders`) against `uri`."""
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "orders"]
    env = os.environ | {"ESDB_URI": uri, "PYTHONPATH": str(ROOT), "ORDERS_LOG_FORMAT": "json"}
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.fixture
def cli(esdb_uri: str) -> Cli:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_orders(esdb_uri, *args)

    return run


def document(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout)


def test_an_order_through_its_whole_life(cli: Cli, order_id: str) -> None:
    placed = cli(
        "place", "--order-id", order_id, "--customer", "cust-7",
        "--line", "sku-1:2:1500", "--line", "sku:with:colons:1:99", "--currency", "eur",
        "--name", "Ada", "--line1", "1 Main St", "--city", "Berlin",
        "--postal-code", "10115", "--country", "DE", "--json",
    )  # fmt: skip
    assert placed.returncode == 0, placed.stderr
    assert document(placed)["order_id"] == order_id
    assert document(placed)["revision"] == 0
    assert document(placed)["events"][0]["data"]["lines"][1]["sku"] == "sku:with:colons"

    steps = [
        ("pay", order_id, "--payment-id", "p-1", "--amount", "3099", "--currency", "EUR"),
        ("address", order_id, "--name", "Ada", "--line1", "2 Side St", "--city", "Bonn",
         "--postal-code", "53111", "--country", "DE"),
        ("ship", order_id, "--carrier", "DHL", "--tracking-number", "JD1"),
        ("deliver", order_id),
    ]  # fmt: skip
    revisions = []
    for step in steps:
        done = cli(*step, "--json")
        assert done.returncode == 0, (step, done.stderr)
        revisions.append(document(done)["revision"])
    assert revisions == [2, 3, 4, 5]  # the payment also emitted OrderPaid

    shown = document(cli("show", order_id, "--json"))
    assert {
        k: shown[k] for k in ("order_id", "status", "currency", "total", "paid", "revision")
    } == {
        "order_id": order_id,
        "status": "DELIVERED",
        "currency": "EUR",
        "total": 3099,
        "paid": 3099,
        "revision": 5,
    }
    history = document(cli("history", order_id, "--json"))
    assert [e["type"] for e in history] == [
        "OrderPlaced",
        "PaymentReceived",
        "OrderPaid",
        "ShippingAddressChanged",
        "OrderShipped",
        "OrderDelivered",
    ]
    assert all(e["metadata"]["command_id"] for e in history)


def test_show_at_a_revision_and_at_a_time(cli: Cli, store: EsdbStore, order_id: str) -> None:
    place_order(order_id, "c", [{"sku": "a", "quantity": 1, "unit_price": 500}], "EUR", store=store)
    record_payment(order_id, "p-1", 500, "EUR", store=store)
    at_zero = cli("show", order_id, "--revision", "0")
    assert at_zero.returncode == 0, at_zero.stderr
    assert "PENDING  (revision 0)" in at_zero.stdout
    assert "outstanding  5.00 EUR" in at_zero.stdout
    before = cli("show", order_id, "--at", "2000-01-01T00:00:00Z")
    assert before.returncode == 1
    assert "order-must-exist" in before.stderr


def test_cancel_refunds_what_was_paid(cli: Cli, store: EsdbStore, order_id: str) -> None:
    place_order(order_id, "c", [{"sku": "a", "quantity": 1, "unit_price": 500}], "EUR", store=store)
    record_payment(order_id, "p-1", 300, "EUR", store=store)
    done = cli("cancel", order_id, "--reason", "out of stock", "--json")
    assert done.returncode == 0, done.stderr
    events = document(done)["events"]
    assert [e["type"] for e in events] == ["OrderCancelled", "RefundIssued"]
    assert events[1]["data"]["amount"] == 300


def test_the_same_command_id_twice_is_applied_once(
    cli: Cli, store: EsdbStore, order_id: str
) -> None:
    place_order(order_id, "c", [{"sku": "a", "quantity": 1, "unit_price": 500}], "EUR", store=store)
    args = ("pay", order_id, "--payment-id", "p-1", "--amount", "200", "--currency", "EUR")
    first = document(cli(*args, "--command-id", "retry-me", "--json"))
    second = document(cli(*args, "--command-id", "retry-me", "--json"))
    assert (first["already_applied"], second["already_applied"]) == (False, True)
    assert first["revision"] == second["revision"] == 1
    assert len(store.read(order_id)) == 2


def test_a_domain_rule_refusal_exits_1_and_names_the_rule(
    cli: Cli, store: EsdbStore, order_id: str
) -> None:
    place_order(order_id, "c", [{"sku": "a", "quantity": 1, "unit_price": 500}], "EUR", store=store)
    done = cli(
        "pay", order_id, "--payment-id", "p", "--amount", "501", "--currency", "EUR", "--json"
    )
    assert done.returncode == 1
    assert "payment-must-not-exceed-outstanding" in done.stderr
    assert document(done)["rule"] == "payment-must-not-exceed-outstanding"
    assert len(store.read(order_id)) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("place", "--customer", "c", "--currency", "EUR"), "lines"),
        (("place", "--customer", "c", "--currency", "EUR", "--line", "a:1:1.5"), "--line"),
        (("ship",), "order_id"),
    ],
)
def test_bad_usage_or_input_exits_2(cli: Cli, args: tuple[str, ...], needle: str) -> None:
    done = cli(*args)
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr
    assert done.stdout == ""


def test_an_unreachable_store_exits_3_naming_the_uri_with_the_password_masked(
    order_id: str,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = run_orders(f"esdb://ops:s3cr3t@127.0.0.1:{port}?Tls=false", "show", order_id)
    assert done.returncode == 3
    assert f"esdb://ops:***@127.0.0.1:{port}" in done.stderr
    assert "s3cr3t" not in done.stderr + done.stdout
