"""Faults around the workers: the server killed and restarted, a poison event parked then
fixed and replayed, and a rebuild swapped in under running workers. Each ends with the
oracle (the ordered fold, each (stream, revision) once)."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
import structlog
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

from demo.fleet import WorkerProcess
from demo.workload import run_orders
from esdb_emulator.node.launcher import EmulatorProcess
from esdb_emulator.testing.waiting import wait_until
from orders import codec
from orders.store import EsdbStore
from projections import database, tracking
from projections.esdb import GroupSettings, ensure_group, group_name
from projections.location import ReadModelFile
from projections.ops.rebuild import rebuild
from projections.read_models import registry
from projections.worker import Worker, WorkerConfig

pytestmark = pytest.mark.emulator_only


def test_server_killed_and_restarted_mid_run(
    emulator: EmulatorProcess, es: EventStoreDBClient, store: EsdbStore, tmp_path: Path
) -> None:
    """kill -9 of the server while workers consume: they reconnect by themselves, the server
    redelivers from its last checkpoint (here: none, so everything), and the redelivered
    events are absorbed as duplicates."""
    name, db = "order_timeline", tmp_path / "order_timeline.db"
    never_checkpoint = GroupSettings(
        checkpoint_after=600, min_checkpoint_count=100_000, max_checkpoint_count=100_000
    )
    ensure_group(es, group_name(name), never_checkpoint)
    run_orders(store, 60, seed=31)
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    workers = [
        WorkerProcess(emulator.uri, name, db, log, "--batch-size", "5").start() for log in logs
    ]
    try:
        wait_until(lambda: applied(db) >= 40, 20, "40 events applied")
        # Both must hold a subscription when the server dies, or one may first connect
        # to the restarted server and never see a drop.
        wait_until(
            lambda: all("subscription.connected" in w.log() for w in workers),
            20,
            "both workers connected",
        )
        emulator.kill()
        emulator.restart()
        run_orders(store, 20, seed=32)
        total = order_events(es)
        wait_until(lambda: applied(db) == total, 40, f"{total} events applied")
        check_oracle(es, name, db)
        assert counter(db, "duplicates_skipped") >= 40
        assert all("subscription.dropped" in w.log() for w in workers)
    finally:
        codes = [w.stop() for w in workers]
    assert codes == [0, 0]


def test_poison_parked_while_the_rest_flows_then_fixed_and_replayed_once(
    emulator: EmulatorProcess, es: EventStoreDBClient, store: EsdbStore, tmp_path: Path
) -> None:
    """An event no upcaster knows is retried, then parked with a log line naming stream,
    revision, type and error; its stream's later event is parked behind it (never applied
    out of order) while every other order flows. After the decoder fix is deployed,
    replaying the parked events applies both exactly once."""
    name, db = "order_summary", tmp_path / "order_summary.db"
    poisoned = f"order-{uuid.uuid4()}"
    run_orders(store, 15, seed=41)
    append_poison_order(es, poisoned)
    run_orders(store, 15, seed=42)
    total = order_events(es)
    config = WorkerConfig(emulator.uri, registry.get(name), db, park_after=1)

    with structlog.testing.capture_logs() as logs:
        broken = start_in_thread(Worker(config, decode=codec.decode))
        wait_until(lambda: applied(db) == total - 2, 30, "all but the poisoned events applied")
        wait_until(
            lambda: es.get_subscription_info(config.group_name).parked_message_count == 2,
            30,
            "two events parked",
        )
        stop_thread(broken)
    [parked] = [
        line
        for line in logs
        if line["event"] == "subscription.parked" and line.get("revision") == 1
    ]
    assert (parked["stream"], parked["event_type"]) == (poisoned, "OrderShipped")
    assert "no upcaster" in parked["error"]
    check_oracle(es, name, db)  # the fold with the same decoder stops the stream there too

    fixed = start_in_thread(Worker(config, decode=decode_with_fix))
    try:
        es.replay_parked_events(config.group_name)
        wait_until(lambda: applied(db) == total, 30, "the parked events applied")
    finally:
        stop_thread(fixed)
    check_oracle(es, name, db, decode=decode_with_fix)
    conn = database.open_for_reading(ReadModelFile(db))
    assert tracking.last_revisions(conn, [poisoned]) == {poisoned: 2}
    assert conn.execute(
        "SELECT status FROM order_summary WHERE order_id = ?", (poisoned.removeprefix("order-"),)
    ).fetchone() == ("DELIVERED",)
    conn.close()


def test_rebuild_while_workers_run(
    emulator: EmulatorProcess, es: EventStoreDBClient, store: EsdbStore, tmp_path: Path
) -> None:
    """A rebuild builds a new generation while two workers keep applying new orders, then
    swaps it in; the workers notice the retired generation, move to the new one, and the
    result equals the fold."""
    name, db = "customer_stats", tmp_path / "customer_stats.db"
    run_orders(store, 60, seed=51)
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    workers = [WorkerProcess(emulator.uri, name, db, log).start() for log in logs]
    writer = threading.Thread(target=run_orders, args=(store, 80), kwargs={"seed": 52})
    try:
        wait_until(lambda: applied(db) > 0, 20, "workers serving")
        old = ReadModelFile(db).current()
        writer.start()
        report = rebuild(emulator.uri, registry.get(name), db)
        assert report.swapped
        assert not report.failures
        assert ReadModelFile(db).current() == report.generation != old
        writer.join(60)
        total = order_events(es)
        wait_until(lambda: applied(db) == total, 40, f"{total} events applied")
        check_oracle(es, name, db)
    finally:
        writer.join(60)
        codes = [w.stop() for w in workers]
    assert codes == [0, 0]
    assert any("projection.generation_switched" in w.log() for w in workers)
    assert old is not None
    retired = database.connect(old, mode="ro")
    assert tracking.is_retired(retired)
    retired.close()
