"""`projections parked` and `projections replay-parked` through the real server: a poison
event parked by a running worker is listed with its decode error (the listing decodes
through the upcaster chain); after the decoder fix, `replay-parked` makes the worker apply
it exactly once and nothing is left parked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from esdbclient import EventStoreDBClient
from readside_harness import (
    append_poison_order,
    applied,
    check_oracle,
    counter,
    decode_with_fix,
    order_events,
    start_in_thread,
    stop_thread,
)

from demo.workload import run_orders
from esdb_emulator.node.launcher import EmulatorProcess
from esdb_emulator.testing.waiting import wait_until
from orders.store import EsdbStore
from projections.read_models import registry
from projections.worker import Worker, WorkerConfig

ROOT = Path(__file__).resolve().parents[2]
NAME = "order_summary"
GROUP = f"projection-{NAME}"

pytestmark = pytest.mark.emulator_only


def projections(uri: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "projections", "--uri", uri, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


def parked_json(uri: str, *extra: str) -> dict[str, Any]:
    done = projections(uri, "parked", NAME, "--json", *extra)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def test_parked_listed_with_decode_error_then_replayed_and_applied_once(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    es, store = EventStoreDBClient(emulator.uri), EsdbStore(emulator.uri)
    db, poisoned = tmp_path / f"{NAME}.db", f"order-{uuid.uuid4()}"
    run_orders(store, 5, seed=71)
    append_poison_order(es, poisoned)  # revision 1 is OrderShipped v9: no upcaster knows it
    run_orders(store, 5, seed=72)
    total = order_events(es)
    config = WorkerConfig(emulator.uri, registry.get(NAME), db, park_after=1)
    broken = start_in_thread(Worker(config))
    try:
        wait_until(lambda: applied(db) == total - 2, 30, "all but the poisoned events applied")
        wait_until(lambda: _parked_count(es) == 2, 30, "revisions 1 and 2 parked")
    finally:
        stop_thread(broken)

    listed = parked_json(emulator.uri)
    assert (listed["group"], listed["parked"]) == (GROUP, 2)
    assert listed["parked_stream"] == f"$persistentsubscription-$all::{GROUP}-parked"
    shipped, delivered = sorted(listed["events"], key=lambda e: e["revision"])
    assert (shipped["stream"], shipped["revision"]) == (poisoned, 1)
    assert (shipped["stored_type"], shipped["stored_version"], shipped["current_type"]) == (
        "OrderShipped",
        9,
        None,
    )
    assert shipped["error"].startswith(f"cannot decode {poisoned}@1 (OrderShipped v9): ")
    assert "no upcaster" in shipped["error"]
    assert shipped["reason"].startswith("Client explicitly NAK'ed message")
    # Parked behind the poison (never applied out of order), though it decodes by itself.
    assert (delivered["stream"], delivered["revision"], delivered["error"]) == (poisoned, 2, None)
    assert (delivered["stored_type"], delivered["current_type"]) == ("OrderDelivered",) * 2

    text = projections(emulator.uri, "parked", NAME)
    assert text.returncode == 0, text.stderr
    assert f"{GROUP}: 2 parked, showing 2" in text.stdout
    assert f"{poisoned}@1 OrderShipped v9: cannot decode {poisoned}@1" in text.stdout
    assert f"{poisoned}@2 OrderDelivered v1: decodes to OrderDelivered" in text.stdout
    first = parked_json(emulator.uri, "--limit", "1")
    assert (first["parked"], len(first["events"])) == (2, 1)

    fixed = start_in_thread(Worker(config, decode=decode_with_fix))  # the upcaster fix is deployed
    try:
        replayed = projections(emulator.uri, "replay-parked", NAME, "--json")
        assert replayed.returncode == 0, replayed.stderr
        assert json.loads(replayed.stdout) == {"projection": NAME, "group": GROUP, "replayed": 2}
        wait_until(lambda: applied(db) == total, 30, "the replayed events applied")
        after = parked_json(emulator.uri)
    finally:
        stop_thread(fixed)
    assert (after["parked"], after["events"]) == (0, [])
    check_oracle(es, NAME, db, decode=decode_with_fix)  # each (stream, revision) once
    assert counter(db, "events_applied") == total
    es.close()
    store.close()


def test_unknown_group_is_named(emulator: EmulatorProcess) -> None:
    """Before any worker ran there is no group: a clear error, exit 1, for both commands."""
    for command in ("parked", "replay-parked"):
        done = projections(emulator.uri, command, NAME)
        assert done.returncode == 1
        assert f"no subscription group {GROUP!r} on the server" in done.stderr


def _parked_count(es: EventStoreDBClient) -> int:
    return es.get_subscription_info(GROUP).parked_message_count
