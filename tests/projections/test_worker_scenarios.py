"""Worker processes against the embedded server: competing consumers, kill -9, SIGTERM.

After each scenario the oracle holds: the read model equals a fold of the event log in
stream order, and its ledger holds each (stream, revision) once.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
from esdbclient import EventStoreDBClient
from readside_harness import (
    applied,
    check_oracle,
    counter,
    order_events,
)

from demo.fleet import WorkerProcess
from demo.workload import run_orders
from esdb_emulator.node.launcher import EmulatorProcess
from esdb_emulator.testing.waiting import wait_until
from orders.store import EsdbStore

pytestmark = pytest.mark.emulator_only


def _workers(
    emulator: EmulatorProcess, tmp_path: Path, name: str, count: int, *extra: str, **kw: str
) -> list[WorkerProcess]:
    db = tmp_path / f"{name}.db"
    logs = [tmp_path / f"worker-{name}-{i}.log" for i in range(count)]
    return [WorkerProcess(emulator.uri, name, db, log, *extra, **kw).start() for log in logs]


def test_two_competing_workers_end_with_the_fold(
    emulator: EmulatorProcess, es: EventStoreDBClient, store: EsdbStore, tmp_path: Path
) -> None:
    """Two RoundRobin consumers of one group split every stream between them while orders
    are written; the read model still equals the ordered fold, each event applied once."""
    db = tmp_path / "order_summary.db"
    workers = _workers(emulator, tmp_path, "order_summary", 2, strategy="RoundRobin")
    try:
        run_orders(store, 60, seed=11)
        total = order_events(es)
        wait_until(lambda: applied(db) == total, 30, f"{total} events applied")
        check_oracle(es, "order_summary", db)
        assert counter(db, "gap_events_read") > 0, "RoundRobin should have split streams"
    finally:
        codes = [w.stop() for w in workers]
    assert codes == [0, 0], [w.log()[-2000:] for w in workers]


def test_kill_9_at_random_points_repeatedly(
    emulator: EmulatorProcess, es: EventStoreDBClient, store: EsdbStore, tmp_path: Path
) -> None:
    """SIGKILL a worker at seeded random moments during a catch-up in small batches while
    orders keep flowing (so before, during or after a commit or an ack), restart it, again
    and again: no lost and no doubled effect."""
    rng = random.Random(20240301)
    db = tmp_path / "customer_stats.db"
    run_orders(store, 80, seed=5)
    workers = _workers(emulator, tmp_path, "customer_stats", 2, "--batch-size", "8")
    writer = threading.Thread(target=run_orders, args=(store, 60), kwargs={"seed": 6})
    writer.start()
    try:
        for round_ in range(10):
            wait_until(lambda: applied(db) > 0, 20, "a first batch")
            threading.Event().wait(rng.uniform(0.02, 0.4))
            victim = workers[rng.randrange(2)]
            victim.kill()
            victim.start()
            assert victim.alive(), f"restart {round_} failed"
        writer.join(60)
        total = order_events(es)
        wait_until(lambda: applied(db) == total, 40, f"{total} events applied")
        check_oracle(es, "customer_stats", db)
    finally:
        writer.join(60)
        for worker in workers:
            worker.stop()


def test_sigterm_finishes_the_batch_and_acks_before_exit(
    emulator: EmulatorProcess, es: EventStoreDBClient, store: EsdbStore, tmp_path: Path
) -> None:
    """SIGTERM: the worker exits 0 with everything acked, so the next worker on the group
    gets no redelivery (no duplicates) and only new events."""
    db = tmp_path / "daily_sales.db"
    [first] = _workers(emulator, tmp_path, "daily_sales", 1)
    run_orders(store, 40, seed=3)
    total = order_events(es)
    wait_until(lambda: applied(db) == total, 30, f"{total} events applied")
    assert first.stop() == 0
    assert "projection.worker_stopped" in first.log()

    [second] = _workers(emulator, tmp_path, "daily_sales", 1)
    try:
        run_orders(store, 5, seed=4)
        total = order_events(es)
        wait_until(lambda: applied(db) == total, 30, f"{total} events applied")
        assert counter(db, "duplicates_skipped") == 0
        check_oracle(es, "daily_sales", db)
    finally:
        assert second.stop() == 0
