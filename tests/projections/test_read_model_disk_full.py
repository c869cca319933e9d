"""F8, the read model's disk full: a worker applying orders when its database's disk fills
up, then space is freed.

Injected with `fault_disk.open_disk`: a real 8 MiB tmpfs filled with a ballast file where
this process may mount one (the kernel answers ENOSPC and SQLite reports SQLITE_FULL), else
SQLite's `max_page_count` capping the worker's connections at their size (the same
SQLITE_FULL, without a file system running out). The test prints which one ran.

Pass: while full the worker rolls back (applied events and the ledger do not move), acks
nothing (the events stay in flight on the server, nothing is parked), backs off and logs
one clear error however many times it retries; once space is back it resumes by itself and
the read model equals the fold of the log, each (stream, revision) once.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import structlog
from esdbclient import EventStoreDBClient
from readside_harness import (
    applied,
    check_oracle,
    order_events,
    start_in_thread,
    stop_thread,
)

from demo.workload import run_orders
from esdb_emulator.node.launcher import EmulatorProcess
from esdb_emulator.testing.fault_disk import Disk, open_disk
from esdb_emulator.testing.waiting import wait_until
from orders.store import EsdbStore
from projections import database
from projections.esdb import GroupSettings, ensure_group, group_name
from projections.read_models import registry
from projections.worker import Worker, WorkerConfig

pytestmark = pytest.mark.emulator_only

NAME = "order_timeline"
OUTAGE = 1.5
"""Seconds the disk stays full once the first failure is seen: several backoffs."""


class _CappedConnection(sqlite3.Connection):
    """A connection that, while its disk is 'full', caps the file at its current size
    before each write transaction (the page-cap fallback of `fault_disk`)."""

    disk: Disk | None = None

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "BEGIN IMMEDIATE" and self.disk is not None:
            (pages,) = super().execute("PRAGMA page_count").fetchone()
            cap = pages if self.disk.full else 1_073_741_823
            super().execute(f"PRAGMA max_page_count = {cap}")
        return super().execute(sql, *args)


def _capped_connect(
    path: Path, *, mode: str = "rw", synchronous: str = "FULL"
) -> sqlite3.Connection:
    """`database.connect` with `_CappedConnection` connections (same pragmas)."""
    uri = f"file:{quote(str(path))}?mode={mode}"
    conn = sqlite3.connect(
        uri,
        uri=True,
        isolation_level=None,
        timeout=database.BUSY_TIMEOUT_S,
        factory=_CappedConnection,
    )
    if mode != "ro":
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


@pytest.fixture
def disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    with open_disk(tmp_path / "disk", size_mb=8) as opened:
        print(f"F8 read model: mechanism={opened.mechanism} {opened.reason}".rstrip())
        if opened.mechanism == "page-cap":
            monkeypatch.setattr(_CappedConnection, "disk", opened)
            monkeypatch.setattr(database, "connect", _capped_connect)
        yield opened


def test_read_model_disk_full_rolls_back_backs_off_and_resumes_with_no_loss(
    emulator: EmulatorProcess, es: EventStoreDBClient, store: EsdbStore, disk: Disk
) -> None:
    db = disk.path / f"{NAME}.db"
    group = group_name(NAME)
    ensure_group(es, group, GroupSettings(consumer_strategy="RoundRobin"))
    run_orders(store, 15, seed=81)
    config = WorkerConfig(
        emulator.uri,
        registry.get(NAME),
        db,
        batch_size=20,
        linger=0.02,
        backoff_initial=0.05,
        backoff_max=0.3,
    )
    with structlog.testing.capture_logs() as logs:
        running = start_in_thread(Worker(config))
        try:
            wait_until(lambda: applied(db) == order_events(es), 30, "the first orders applied")
            disk.fill()
            run_orders(store, 15, seed=82)
            total = order_events(es)
            wait_until(lambda: bool(_errors(logs)), 30, "the worker to hit the full disk")
            before = applied(db)
            assert before < total
            outage_started = time.monotonic()
            while time.monotonic() - outage_started < OUTAGE:  # the fault's duration
                assert applied(db) == before, "a batch was committed on a full disk"
                time.sleep(0.1)
            info = es.get_subscription_info(group)
            assert info.total_in_flight_messages > 0, "events were acked while the disk was full"
            assert info.parked_message_count == 0
            disk.free()
            wait_until(lambda: applied(db) == total, 30, f"all {total} events applied")
        finally:
            stop_thread(running)
    [error] = _errors(logs)  # one line for the whole outage, however many retries
    assert error["log_level"] == "error"
    assert "full" in error["error"]
    assert error["db"] == str(db)
    recovered = [e for e in logs if e["event"] == "projection.database_recovered"]
    assert len(recovered) == 1
    assert recovered[0]["attempts"] >= 2
    assert not [e for e in logs if e["event"] in ("projection.event_failed", "subscription.parked")]
    check_oracle(es, NAME, db)
    assert es.get_subscription_info(group).parked_message_count == 0


def _errors(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "projection.database_unavailable"]
