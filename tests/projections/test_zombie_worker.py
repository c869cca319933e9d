"""F9, the zombie consumer: a worker process paused (SIGSTOP) for longer than the group's
message timeout while it holds in-flight events, then resumed (SIGCONT), beside a second
worker that keeps running. The server times the zombie's messages out and redelivers them
to the other worker; the zombie's late commits and acks, once it wakes up, change nothing.
Ends with the oracle: the read model equals the in-order fold, each (stream, revision) once.

Run for `order_summary` (one row per order) and `customer_stats` (running totals per
customer, where a second application of an event would show as a wrong sum). The zombie's
log must name the late events it skipped as already applied.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from pathlib import Path

import pytest
from esdbclient import EventStoreDBClient
from readside_harness import applied, check_oracle, counter, order_events

from demo.fleet import WorkerProcess
from demo.workload import run_orders
from esdb_emulator.node.launcher import EmulatorProcess
from esdb_emulator.testing.waiting import wait_until
from orders.store import EsdbStore
from projections.esdb import GroupSettings, ensure_group, group_connections, group_name

pytestmark = pytest.mark.emulator_only

MESSAGE_TIMEOUT = 0.5
"""Seconds; the emulator times messages out on its one-second clock tick."""
ZOMBIE_SETTINGS = GroupSettings(
    consumer_strategy="RoundRobin",  # retries go to whichever consumer is next, not a pinned one
    message_timeout=MESSAGE_TIMEOUT,
    max_retry_count=50,  # a message bouncing back to the paused worker must not get parked
)


@pytest.mark.parametrize("name", ["order_summary", "customer_stats"])
def test_zombie_worker_paused_past_the_message_timeout_then_resumed(
    emulator: EmulatorProcess,
    es: EventStoreDBClient,
    store: EsdbStore,
    tmp_path: Path,
    name: str,
) -> None:
    db = tmp_path / f"{name}.db"
    group = group_name(name)
    ensure_group(es, group, ZOMBIE_SETTINGS)
    run_orders(store, 20, seed=91)
    zombie, survivor = (
        WorkerProcess(
            f"{emulator.uri}&ConnectionName={role}",
            name,
            db,
            tmp_path / f"{role}.log",
            "--batch-size",
            "10",
            strategy="RoundRobin",
        ).start()
        for role in ("zombie", "survivor")
    )
    try:
        wait_until(
            lambda: _connected(es, group) == {"zombie", "survivor"}, 30, "both workers connected"
        )
        wait_until(lambda: applied(db) == order_events(es), 30, "the first orders applied")

        # Paused while idle: the events written meanwhile go half to the zombie and stay in
        # flight there; the survivor ends up applying all of them while the zombie sleeps.
        paused_for = _pause_and_drain(zombie, es, group, store, db, seed=92)
        assert paused_for > MESSAGE_TIMEOUT
        resumed_at = len(zombie.log())
        _resume(zombie)
        # It wakes up with the stale events in hand: applied elsewhere, so duplicates,
        # and its log names them.
        late = wait_until(
            lambda: _skipped(zombie, resumed_at), 20, "the zombie's late batch skipped"
        )
        written = {
            f"{e.stream_position}@{e.stream_name}"
            for e in es.read_all()
            if e.stream_name.startswith("order-")
        }
        assert late <= written, f"skipped events that were never written: {late - written}"

        # Paused at a random moment of a catch-up (maybe inside its transaction, or between
        # its commit and its acks), twice: the late commit is absorbed either way.
        for seed in (93, 94):
            _pause_mid_flow(zombie, store, seed)
            total = order_events(es)
            wait_until(lambda: applied(db) == total, 40, f"{total} events applied")  # noqa: B023
    finally:
        _resume(zombie)
        codes = [zombie.stop(), survivor.stop()]
    assert codes == [0, 0]
    result = check_oracle(es, name, db)
    assert result.events == order_events(es) == counter(db, "events_applied")
    assert counter(db, "duplicates_skipped") >= len(late)
    assert es.get_subscription_info(group).parked_message_count == 0
    for worker in (zombie, survivor):
        assert "subscription.parked" not in worker.log()
        assert "projection.event_failed" not in worker.log()


def _pause_and_drain(
    zombie: WorkerProcess,
    es: EventStoreDBClient,
    group: str,
    store: EsdbStore,
    db: Path,
    seed: int,
) -> float:
    """SIGSTOP the idle zombie, write orders, and wait (zombie still paused) until the
    survivor has applied every event and nothing is in flight to the zombie any more:
    its messages timed out and were redelivered. Returns how long it was paused."""
    _signal(zombie, signal.SIGSTOP)
    stopped = time.monotonic()
    writer = threading.Thread(target=run_orders, args=(store, 6), kwargs={"seed": seed})
    writer.start()
    try:
        wait_until(
            lambda: _in_flight(es, group, "zombie") > 0, 20, "events in flight to the zombie"
        )
    finally:
        writer.join(60)
    total = order_events(es)
    wait_until(lambda: applied(db) == total, 30, "the survivor applying every event")
    wait_until(
        lambda: _in_flight(es, group, "zombie") == 0, 30, "the zombie's messages redelivered"
    )
    assert zombie.alive()
    return time.monotonic() - stopped


def _pause_mid_flow(zombie: WorkerProcess, store: EsdbStore, seed: int) -> None:
    """Write orders while both consume; SIGSTOP the zombie at a seeded moment, keep it
    paused for three message timeouts (and at least two clock ticks), then SIGCONT."""
    writer = threading.Thread(target=run_orders, args=(store, 15), kwargs={"seed": seed})
    writer.start()
    try:
        time.sleep(random.Random(seed).uniform(0.05, 0.6))  # the moment of the fault
        _signal(zombie, signal.SIGSTOP)
        time.sleep(max(3 * MESSAGE_TIMEOUT, 2.0))  # the fault's duration, not a wait
    finally:
        _resume(zombie)
        writer.join(60)


def _connected(es: EventStoreDBClient, group: str) -> set[str]:
    return {c.name for c in group_connections(es, group) or []}


def _in_flight(es: EventStoreDBClient, group: str, connection: str) -> int:
    consumers = group_connections(es, group) or []
    return sum(c.in_flight for c in consumers if c.name == connection)


def _skipped(worker: WorkerProcess, offset: int) -> set[str]:
    """The events (`revision@stream`) the worker's log says it skipped as already
    applied, after character `offset` of the log."""
    skipped: set[str] = set()
    for line in worker.log()[offset:].splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == "projection.duplicates_skipped":
                skipped.update(entry["events"])
    return skipped


def _signal(worker: WorkerProcess, signum: signal.Signals) -> None:
    assert worker.process is not None
    worker.process.send_signal(signum)


def _resume(worker: WorkerProcess) -> None:
    if worker.alive():
        _signal(worker, signal.SIGCONT)
