"""`python -m demo.seed` and `orders schema check` as CI runs them: real processes against
an emulator of this module's own (other tests write undecodable events on purpose, so a
shared server could not promise a clean check)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from esdbclient import EventStoreDBClient
from legacy_support import raw, ts_placed, write

from demo.workload import run_orders
from esdb_emulator.node.launcher import EmulatorProcess
from orders.store import EsdbStore

ROOT = Path(__file__).resolve().parents[2]
_MAIN = "import sys; from orders.cli import main; sys.exit(main())"


def orders_cli(uri: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run `orders ARGV` in a child process against `uri`."""
    return _child(uri, "-c", _MAIN, *argv)


def seed(uri: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m demo.seed ARGV` in a child process against `uri`."""
    return _child(uri, "-m", "demo.seed", *argv)


def _child(uri: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ESDB_URI": uri, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *argv],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with EmulatorProcess(tmp_path_factory.mktemp("schema-check") / "events.db") as process:
        yield process


def test_the_demo_data_passes_the_schema_check(node: EmulatorProcess) -> None:
    seeded = seed(node.uri, "--count", "30", "--json")
    assert seeded.returncode == 0, seeded.stderr
    legacy = json.loads(seeded.stdout)
    assert len(legacy) == 30
    store = EsdbStore(node.uri)
    try:
        run_orders(store, 6)
        events = sum(1 for _ in store.scan())
    finally:
        store.close()

    checked = orders_cli(node.uri, "schema", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{events} order events: every event decodes to the current model" in checked.stdout
    for row in ("OrderPlacedEvent", "OrderPaidEvent", "OrderPlaced ", "PaymentReceived "):
        assert row in checked.stdout

    report = json.loads(orders_cli(node.uri, "schema", "check", "--json").stdout)
    assert report["ok"] is True
    assert report["events"] == events
    assert report["failures"] == []
    by_schema = {(s["type"], s["schema_version"]): s for s in report["schemas"]}
    assert by_schema["OrderPlacedEvent", 1]["becomes"] == "OrderPlaced v3"
    assert by_schema["OrderPaidEvent", 1]["becomes"] == "PaymentReceived v2"
    assert by_schema["OrderPlaced", 3]["becomes"] == "OrderPlaced v3 (current)"
    placed = sum(s["count"] for (t, _), s in by_schema.items() if t.startswith("OrderPlaced"))
    assert placed == 30 + 6


def test_seeding_the_same_orders_again_writes_nothing(node: EmulatorProcess) -> None:
    store = EsdbStore(node.uri)
    try:
        before = sum(1 for _ in store.scan())
        again = seed(node.uri, "--count", "30")
        assert again.returncode == 0, again.stderr
        assert sum(1 for _ in store.scan()) == before
    finally:
        store.close()


def test_an_undecodable_event_fails_the_check_naming_it(emulator: EmulatorProcess) -> None:
    assert seed(emulator.uri, "--count", "5").returncode == 0
    client = EventStoreDBClient(emulator.uri)
    try:
        write(client, "unknown-type", ts_placed(10, ("p", 1)), raw("OrderRefundedEvent", {}))
        write(client, "bad-amount", raw("OrderPaidEvent", {"transactionId": "t", "amount": "x"}))
    finally:
        client.close()

    checked = orders_cli(emulator.uri, "schema", "check")
    assert checked.returncode == 4, checked.stdout + checked.stderr
    assert "order-unknown-type@1 (OrderRefundedEvent v1)" in checked.stdout
    assert "order-bad-amount@0 (OrderPaidEvent v1)" in checked.stdout
    assert "amount must be a number" in checked.stdout
    assert "2 event(s) do not decode" in checked.stdout

    report = json.loads(orders_cli(emulator.uri, "schema", "check", "--json").stdout)
    assert report["ok"] is False
    failures = {
        (f["stream"], f["revision"], f["type"], f["schema_version"]) for f in report["failures"]
    }
    assert failures == {
        ("order-unknown-type", 1, "OrderRefundedEvent", 1),
        ("order-bad-amount", 0, "OrderPaidEvent", 1),
    }
    unknown = next(s for s in report["schemas"] if s["type"] == "OrderRefundedEvent")
    assert (unknown["count"], unknown["decoded"], unknown["becomes"]) == (1, 0, "no upcaster")
