"""The worker's application logic on the ports' in-memory fakes: no server process.

The same guarantees the fault scenarios show against a real server (tests/projections/),
here in milliseconds: every read model equals the fold of the log, each (stream,
revision) applied once, through dropped connections, duplicate deliveries and a poison
event. The fakes keep to the real server's contract (tests/contract/).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.workload import run_orders
from esdb_emulator.testing.waiting import wait_until
from orders import codec
from orders.memory import InMemoryOrderStore
from orders.ports import EncodedEvent
from projections import database
from projections.esdb import group_name
from projections.location import ReadModelFile
from projections.memory import MemoryEventStore, MemoryOrderLog
from projections.ops.verify import verify
from projections.read_models import registry
from projections.worker import Worker, WorkerConfig
from tests.projections.readside_harness import applied, start_in_thread, stop_thread

Running = tuple[Worker, threading.Thread]


def worker(server: MemoryEventStore, name: str, db: Path) -> Running:
    """A worker over the fake on a thread of this process (small batches, fast backoff)."""
    config = WorkerConfig(
        uri="memory:",
        projection=registry.get(name),
        db_path=db,
        batch_size=20,
        linger=0.005,
        backoff_initial=0.01,
        backoff_max=0.05,
    )
    return start_in_thread(Worker(config, connect=server.connect))


def assert_oracle(store: InMemoryOrderStore, name: str, db: Path) -> None:
    conn = database.open_for_reading(ReadModelFile(db))
    try:
        result = verify(conn, MemoryOrderLog(store), registry.get(name), codec.decode)
    finally:
        conn.close()
    assert result.ok, result.differences
    assert result.events == sum(1 for _ in store.scan())


@pytest.fixture
def store() -> InMemoryOrderStore:
    return InMemoryOrderStore()


@pytest.fixture
def server(store: InMemoryOrderStore) -> MemoryEventStore:
    return MemoryEventStore(store)


@pytest.fixture
def workers() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for running in started:
        stop_thread(running)


@pytest.mark.parametrize("name", sorted(registry.PROJECTIONS))
def test_each_read_model_equals_the_fold_of_the_log(
    store: InMemoryOrderStore,
    server: MemoryEventStore,
    workers: list[Running],
    tmp_path: Path,
    name: str,
) -> None:
    db = tmp_path / f"{name}.db"
    workers += [worker(server, name, db), worker(server, name, db)]  # competing consumers
    run_orders(store, 40, seed=3, threads=4)
    events = sum(1 for _ in store.scan())
    wait_until(lambda: applied(db) == events, 20, f"{events} events applied")
    assert_oracle(store, name, db)


def test_drops_and_duplicate_deliveries_have_no_duplicate_effect(
    store: InMemoryOrderStore, server: MemoryEventStore, workers: list[Running], tmp_path: Path
) -> None:
    db = tmp_path / "order_summary.db"
    workers.append(worker(server, "order_summary", db))
    group = group_name("order_summary")
    redelivered = 0
    for round_ in range(10):
        run_orders(store, 5, seed=100 + round_)
        wait_until(lambda: server.in_flight(group) > 0 or applied(db) > 0, 10, "a delivery")
        redelivered += server.redeliver_in_flight(group)
        server.drop_connections()
    events = sum(1 for _ in store.scan())
    wait_until(lambda: applied(db) == events, 20, f"{events} events applied")
    wait_until(lambda: server.in_flight(group) == 0, 10, "every delivery settled")
    assert redelivered > 0, "the scenario never duplicated a delivery"
    assert_oracle(store, "order_summary", db)


def test_a_poison_event_is_parked_and_its_stream_waits_while_others_flow(
    store: InMemoryOrderStore, server: MemoryEventStore, workers: list[Running], tmp_path: Path
) -> None:
    db = tmp_path / "order_summary.db"
    workers.append(worker(server, "order_summary", db))
    run_orders(store, 5, seed=9)
    poisoned = str(uuid.uuid4())
    bad = EncodedEvent(uuid.uuid4(), "OrderPlaced", b'{"not": "an order"}', b"{}")
    store.append(poisoned, None, [bad])
    run_orders(store, 5, seed=10)
    good = sum(1 for e in store.scan() if e.id != bad.id)
    group = group_name("order_summary")
    wait_until(lambda: applied(db) == good, 20, f"{good} good events applied")
    wait_until(lambda: [e.id for e in server.parked(group)] == [bad.id], 20, "the poison parked")
