"""The `projections` command as a subprocess: status, verify and rebuild beside a running
worker, and clear errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from esdbclient import EventStoreDBClient
from readside_harness import applied, order_events

from demo.fleet import WorkerProcess
from demo.workload import run_orders
from esdb_emulator.node.launcher import EmulatorProcess
from esdb_emulator.testing.waiting import wait_until
from orders.store import EsdbStore
from projections.location import ReadModelFile

ROOT = Path(__file__).resolve().parents[2]


def projections(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "projections", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


@pytest.mark.emulator_only
def test_status_verify_and_rebuild_beside_a_worker(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    """status reports position, no lag, nothing parked and one consumer; verify agrees
    with the fold; rebuild swaps a new generation in while the worker keeps running."""
    store = EsdbStore(emulator.uri)
    run_orders(store, 20, seed=61)
    client = EventStoreDBClient(emulator.uri)
    total = order_events(client)
    db = tmp_path / "order_summary.db"
    worker = WorkerProcess(emulator.uri, "order_summary", db, tmp_path / "worker.log").start()
    uri = ["--uri", emulator.uri]
    try:
        wait_until(lambda: applied(db) == total, 30, f"{total} events applied")

        status = projections(*uri, "status", "order_summary", "--dir", str(tmp_path), "--json")
        assert status.returncode == 0, status.stderr
        [row] = json.loads(status.stdout)
        assert (row["events_applied"], row["lag_events"], row["parked"]) == (total, 0, 0)
        assert row["consumers"] == 1
        assert row["streams"] == 20

        verified = projections(*uri, "verify", "order_summary", "--db", str(db), "--json")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert json.loads(verified.stdout)["ok"] is True

        before = ReadModelFile(db).current()
        rebuilt = projections(*uri, "rebuild", "order_summary", "--db", str(db), "--quiet")
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert ReadModelFile(db).current() != before
        run_orders(store, 5, seed=62)
        total = order_events(client)
        wait_until(lambda: applied(db) == total, 30, "the new orders in the new generation")
    finally:
        assert worker.stop() == 0
        store.close()
        client.close()


def test_unknown_projection_is_a_usage_error() -> None:
    """A wrong name exits 2 and lists the projections that exist."""
    done = projections("verify", "order_sumary")
    assert done.returncode == 2
    assert "unknown projection 'order_sumary'" in done.stderr
    assert "order_summary" in done.stderr
